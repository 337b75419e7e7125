// Proves the process exits promptly after using the binding: `node -e` scripts that open test:///default, receive a lifecycle event, then close (or call process.exit without closing) must exit within a bound instead of hanging on the event-pump thread.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";

const exitBoundMs = 5_000;
const bindingUrl = new URL("../../agent/libvirt/index.js", import.meta.url).href;

function scriptThat(ending: string): string {
  return `
    import { LibvirtConnection } from ${JSON.stringify(bindingUrl)};
    const connection = await LibvirtConnection.open("test:///default");
    const event = new Promise((resolve) => connection.onLifecycle(resolve));
    await connection.destroyDomain((await connection.lookupDomain("test")).uuid);
    const received = await event;
    console.log(received.event + "/" + received.detail);
    ${ending}
  `;
}

function runNode(script: string): Promise<{ code: number | null; stdout: string; stderr: string; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill("SIGKILL"), exitBoundMs);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}

test("a script that opens, receives an event and closes exits on its own, promptly", async () => {
  const result = await runNode(scriptThat("await connection.close();"));
  assert.equal(result.stderr, "");
  assert.equal(result.code, 0, `exit code ${result.code} (killed after ${exitBoundMs} ms means it hung)`);
  assert.equal(result.stdout.trim(), "stopped/destroyed");
  assert.ok(result.elapsedMs < exitBoundMs);
});

test("process.exit() with the connection still open does not hang on the event pump", async () => {
  const result = await runNode(scriptThat("process.exit(0);"));
  assert.equal(result.code, 0, `exit code ${result.code} (killed after ${exitBoundMs} ms means it hung)`);
  assert.equal(result.stdout.trim(), "stopped/destroyed");
});
