// Runs one load-client process (load-client.ts) against one endpoint and samples the servers' CPU
// over the same measured window, from /proc.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LoadRequest, LoadResult } from "./load-client.js";
import { cpuTimeMs, diskWriteBytes, trackChild, withTimeout } from "./processes.js";

const loadClientPath = fileURLToPath(new URL("./load-client.js", import.meta.url));
const loadSlackMs = 30_000;

export interface LoadMeasurement extends LoadResult {
  /** CPU the server processes used in the window, in microseconds per acknowledged write. */
  serverCpuUsPerWrite: number;
  /** The same, as a share of one core. */
  serverCpuShare: number;
  /** Bytes the server processes wrote to storage in the window, per acknowledged write. */
  serverDiskBytesPerWrite: number;
}

interface ClientLine {
  event: "measuring" | "done";
  result?: LoadResult;
}

export async function runLoad(request: LoadRequest, serverPids: readonly number[]): Promise<LoadMeasurement> {
  const child = spawn(process.execPath, [loadClientPath, JSON.stringify(request)], { stdio: ["ignore", "pipe", "pipe"] });
  trackChild(child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  let serverCpuAtStartMs = 0;
  let serverCpuMs = Number.NaN;
  let serverBytesAtStart = 0;
  let serverBytes = Number.NaN;
  let windowTimer: NodeJS.Timeout | undefined;
  const serverCpuNow = () => serverPids.reduce((sum, pid) => sum + cpuTimeMs(pid), 0);
  const serverBytesNow = () => serverPids.reduce((sum, pid) => sum + diskWriteBytes(pid), 0);
  const lines = createInterface({ input: child.stdout });
  const result = new Promise<LoadResult>((resolve, reject) => {
    lines.on("line", (line) => {
      let parsed: ClientLine;
      try {
        parsed = JSON.parse(line) as ClientLine;
      } catch {
        return;
      }
      if (parsed.event === "measuring") {
        serverCpuAtStartMs = serverCpuNow();
        serverBytesAtStart = serverBytesNow();
        windowTimer = setTimeout(() => {
          serverCpuMs = serverCpuNow() - serverCpuAtStartMs;
          serverBytes = serverBytesNow() - serverBytesAtStart;
        }, request.durationMs);
      } else if (parsed.event === "done" && parsed.result !== undefined) {
        resolve(parsed.result);
      }
    });
    void exited.then((code) => reject(new Error(`load client exited with ${code}: ${stderr.slice(-2_000)}`)));
  });
  try {
    const loadResult = await withTimeout(result, request.warmUpMs + request.durationMs + loadSlackMs, `the ${request.system} load client`);
    if (Number.isNaN(serverCpuMs)) serverCpuMs = serverCpuNow() - serverCpuAtStartMs;
    if (Number.isNaN(serverBytes)) serverBytes = serverBytesNow() - serverBytesAtStart;
    return {
      ...loadResult,
      serverCpuUsPerWrite: loadResult.acknowledged === 0 ? Number.NaN : (serverCpuMs * 1000) / loadResult.acknowledged,
      serverCpuShare: serverCpuMs / request.durationMs,
      serverDiskBytesPerWrite: loadResult.acknowledged === 0 ? Number.NaN : serverBytes / loadResult.acknowledged,
    };
  } finally {
    clearTimeout(windowTimer);
    if (child.exitCode === null) child.kill("SIGKILL");
    lines.close();
  }
}
