// Starting and talking to swarm worker processes (bench/ingest/swarm.ts), shared by the ingest and
// scale benchmarks. A swarm speaks one JSON object per line on stdout; the parent answers on stdin.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { trackChild } from "../replication/processes.js";
import type { SwarmRequest } from "./swarm.js";

const swarmPath = fileURLToPath(new URL("./swarm.js", import.meta.url));

export interface Swarm {
  child: ChildProcess;
  lines: AsyncIterator<string>;
}

/** Resident memory of process `pid` in bytes (0 when it is not known). */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? 0 : Number(match[1]) * 1024;
}

export function startSwarm(request: SwarmRequest, nodeOptions: readonly string[] = []): Swarm {
  const child = spawn(process.execPath, [...nodeOptions, swarmPath, JSON.stringify(request)], { stdio: ["pipe", "pipe", "inherit"] });
  trackChild(child);
  const lines = (async function* () {
    let buffered = "";
    for await (const chunk of child.stdout!) {
      buffered += String(chunk);
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        yield buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
      }
    }
  })();
  return { child, lines };
}

/** The swarm's next line, parsed; fails when it says nothing for `timeoutMs` or exits. */
export async function nextLine(swarm: Swarm, timeoutMs: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`swarm silent for ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    const line = await Promise.race([swarm.lines.next(), silent]);
    if (line.done === true) throw new Error("swarm exited early");
    return JSON.parse(line.value) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

/** Tells the swarm to go on to its next phase. */
export function signalSwarm(swarm: Swarm): void {
  swarm.child.stdin!.write("go\n");
}
