// The load client, run as its own Node process so its CPU time is its own: `inFlight` closed-loop
// callers on ONE channel to ONE endpoint, each writing a fresh 19-byte value (clients.ts) as soon as its
// previous write is acknowledged. The same code drives vigil (SetConfig) and etcd (KV.Put).
// Protocol on stdout, one JSON object per line: {"event":"measuring"} when the warm-up ends,
// then {"event":"done","result":{…}} (LoadResult).
//
// Run: node dist/bench/replication/load-client.js '{"system":"etcd","endpoint":"127.0.0.1:2379",…}'
import { payloadValue, systemClient, systemNames, type SystemName } from "./clients.js";

export interface LoadRequest {
  system: SystemName;
  endpoint: string;
  inFlight: number;
  warmUpMs: number;
  durationMs: number;
  deadlineMs: number;
}

export interface LoadResult {
  /** Writes acknowledged inside the measured window. */
  acknowledged: number;
  failed: number;
  firstError: string | null;
  writesPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Client CPU (user + system) over the measured window, in ms, and as a share of one core. */
  clientCpuMs: number;
  clientCpuShare: number;
  windowMs: number;
}

function parseRequest(text: string | undefined): LoadRequest {
  const request = JSON.parse(text ?? "") as Partial<LoadRequest>;
  if (!systemNames.includes(request.system as SystemName)) throw new Error(`system must be one of ${systemNames.join(", ")}`);
  for (const field of ["inFlight", "warmUpMs", "durationMs", "deadlineMs"] as const) {
    if (!Number.isInteger(request[field]) || request[field]! <= 0) throw new Error(`${field} must be a whole number > 0`);
  }
  if (typeof request.endpoint !== "string" || request.endpoint === "") throw new Error("endpoint is required");
  return request as LoadRequest;
}

function percentileOf(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

async function run(request: LoadRequest): Promise<LoadResult> {
  const client = systemClient(request.system, [request.endpoint]);
  const latenciesMs: number[] = [];
  let sequence = 0;
  let failed = 0;
  let firstError: string | null = null;
  const startedAt = performance.now();
  const windowStartMs = startedAt + request.warmUpMs;
  const windowEndMs = windowStartMs + request.durationMs;
  let acknowledged = 0;

  const caller = async (): Promise<void> => {
    while (performance.now() < windowEndMs) {
      const sentAt = performance.now();
      sequence += 1;
      try {
        await client.write(0, payloadValue(sequence), request.deadlineMs);
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
        continue;
      }
      const ackedAt = performance.now();
      if (ackedAt >= windowStartMs && ackedAt <= windowEndMs) {
        acknowledged += 1;
        if (sentAt >= windowStartMs) latenciesMs.push(ackedAt - sentAt);
      }
    }
  };

  let cpuAtStart = process.cpuUsage();
  const windowStarted = new Promise<void>((resolve) =>
    setTimeout(() => {
      cpuAtStart = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ event: "measuring" })}\n`);
      resolve();
    }, request.warmUpMs),
  );
  let cpuAtEnd = cpuAtStart;
  const windowEnded = new Promise<void>((resolve) =>
    setTimeout(() => {
      cpuAtEnd = process.cpuUsage(cpuAtStart);
      resolve();
    }, request.warmUpMs + request.durationMs),
  );
  await Promise.all([...Array.from({ length: request.inFlight }, caller), windowStarted, windowEnded]);
  client.close();
  const sorted = Float64Array.from(latenciesMs).sort();
  const clientCpuMs = (cpuAtEnd.user + cpuAtEnd.system) / 1000;
  return {
    acknowledged,
    failed,
    firstError,
    writesPerSecond: (acknowledged * 1000) / request.durationMs,
    latencyP50Ms: percentileOf(sorted, 0.5),
    latencyP99Ms: percentileOf(sorted, 0.99),
    clientCpuMs,
    clientCpuShare: clientCpuMs / request.durationMs,
    windowMs: request.durationMs,
  };
}

const result = await run(parseRequest(process.argv[2]));
process.stdout.write(`${JSON.stringify({ event: "done", result })}\n`);
process.exit(0);
