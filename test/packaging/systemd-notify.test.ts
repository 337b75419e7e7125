// Proves sd_notify through koffi and the real libsystemd: READY, STOPPING and watchdog pings reach a NOTIFY_SOCKET (a python3 datagram listener), and nothing is sent or loaded without one.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { notifyReady, notifyStopping, watchdogIntervalMs } from "../../common/systemd.js";
import { waitFor } from "../support/wait.js";

const systemdModule = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "common", "systemd.js");
const python3Missing = spawnSync("python3", ["--version"]).status !== 0;

/** Binds a datagram socket at `path` and prints each datagram received as one JSON line. */
const listenerScript = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

function linesOf(child: ChildProcess): () => string[] {
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return () => output.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as string);
}

describe("sd_notify", () => {
  const children: ChildProcess[] = [];
  const directory = mkdtempSync(join(tmpdir(), "vigil-notify-"));
  after(() => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(directory, { recursive: true, force: true });
  });

  it("is a no-op without NOTIFY_SOCKET", () => {
    assert.equal(process.env.NOTIFY_SOCKET, undefined, "the test runner itself is not a notify service");
    assert.equal(notifyReady(), "not-under-systemd");
    assert.equal(notifyStopping(), "not-under-systemd");
  });

  it("pings the watchdog at half of WATCHDOG_USEC, only in the process it names", () => {
    assert.equal(watchdogIntervalMs({}, 10), null);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000" }, 10), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "10" }, 10), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "11" }, 10), null);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: "soon" }, 10), null);
  });

  it("sends READY with a status, watchdog pings, then STOPPING", { skip: python3Missing && "python3 is not installed" }, async () => {
    const socketPath = join(directory, "notify.sock");
    const listener = spawn("python3", ["-c", listenerScript, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(listener);
    const received = linesOf(listener);
    await waitFor(() => received().includes("bound"), { timeoutMs: 10_000, what: "the notify socket to be bound" });

    // The service process: ready, then it stays up (watchdog pings) until told to stop on stdin.
    const service = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { notifyReady, notifyStopping } from ${JSON.stringify(systemdModule)};
         console.log(notifyReady("serving on 127.0.0.1:7400\\nsecond line"));
         process.stdin.once("data", () => { console.log(notifyStopping()); process.exit(0); });`,
      ],
      { env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "100000" }, stdio: ["pipe", "pipe", "inherit"] },
    );
    children.push(service);
    let serviceOutput = "";
    service.stdout!.on("data", (chunk: Buffer) => (serviceOutput += chunk.toString()));

    await waitFor(() => received().filter((message) => message === "WATCHDOG=1").length >= 2, { timeoutMs: 10_000, what: "two watchdog pings" });
    assert.equal(received()[1], "READY=1\nSTATUS=serving on 127.0.0.1:7400 second line", "READY comes first, with a one-line status");
    service.stdin!.write("stop\n");
    await waitFor(() => received().some((message) => message.startsWith("STOPPING=1")), { timeoutMs: 10_000, what: "STOPPING=1" });
    await waitFor(() => service.exitCode !== null, { timeoutMs: 10_000, what: "the service to exit" });
    assert.equal(service.exitCode, 0);
    assert.deepEqual(serviceOutput.trim().split("\n"), ["sent", "sent"]);
  });
});
