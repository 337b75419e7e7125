// Failover after kill -9 of the leader, measured the same way on both systems: a client writes
// continuously (a fresh attempt every few ms, short deadlines, moving to the next endpoint when an
// attempt on the current one fails); the leader is killed with SIGKILL; failover is the time from
// the signal to the acknowledgement of the first write sent after it.
import { payloadValue, systemClient, type SystemClient } from "./clients.js";
import type { BenchCluster } from "./clusters.js";
import { BenchTimeoutError, sleep, withTimeout } from "./processes.js";

export interface ContinuousWriterOptions {
  attemptIntervalMs: number;
  deadlineMs: number;
  /** Bound on attempts in flight at once. */
  inFlightMax: number;
}

export const failoverWriterOptions: ContinuousWriterOptions = { attemptIntervalMs: 5, deadlineMs: 500, inFlightMax: 256 };

interface AckWaiter {
  sentAfterMs: number;
  resolve(ackedAtMs: number): void;
}

/** Writes every `attemptIntervalMs` through the current endpoint; rotates endpoints on failure. */
export class ContinuousWriter {
  private current: number;
  private inFlight = 0;
  private sequence = 0;
  private timer: NodeJS.Timeout | null = null;
  private waiters: AckWaiter[] = [];
  attempts = 0;
  failures = 0;

  constructor(
    private readonly client: SystemClient,
    private readonly endpointCount: number,
    startEndpoint: number,
    private readonly options: ContinuousWriterOptions = failoverWriterOptions,
  ) {
    this.current = startEndpoint;
  }

  start(): void {
    this.timer = setInterval(() => this.attempt(), this.options.attemptIntervalMs);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Resolves with the ack time (performance.now()) of the first write sent at or after `sentAfterMs`. */
  firstAckSentAfter(sentAfterMs: number, timeoutMs: number): Promise<number> {
    return withTimeout(new Promise<number>((resolve) => this.waiters.push({ sentAfterMs, resolve })), timeoutMs, `a ${this.client.system} write acknowledged after ${sentAfterMs.toFixed(0)} ms`);
  }

  private attempt(): void {
    if (this.inFlight >= this.options.inFlightMax) return;
    const endpoint = this.current;
    const sentAtMs = performance.now();
    this.inFlight += 1;
    this.attempts += 1;
    this.sequence += 1;
    this.client.write(endpoint, payloadValue(this.sequence), this.options.deadlineMs).then(
      () => {
        this.inFlight -= 1;
        const ackedAtMs = performance.now();
        const settled = this.waiters.filter((waiter) => sentAtMs >= waiter.sentAfterMs);
        this.waiters = this.waiters.filter((waiter) => sentAtMs < waiter.sentAfterMs);
        for (const waiter of settled) waiter.resolve(ackedAtMs);
      },
      () => {
        this.inFlight -= 1;
        this.failures += 1;
        // Several attempts may fail on the same endpoint: move on once, not once per attempt.
        if (endpoint === this.current) this.current = (this.current + 1) % this.endpointCount;
      },
    );
  }
}

export interface FailoverRun {
  killed: string;
  newLeader: string;
  failoverMs: number;
  attempts: number;
  failedAttempts: number;
}

const writesFlowingTimeoutMs = 10_000;
const failoverTimeoutMs = 30_000;
/** Writes flow this long before the kill, so connections and leases are in their steady state. */
const beforeKillMs = 300;
/** After a restart and an agreed leader, the restarted member catches up for this long. */
const settleMs = 1_000;

/** One failover: kill -9 the leader under continuous writes, restart it, wait for a stable leader. */
export async function measureOneFailover(cluster: BenchCluster): Promise<FailoverRun> {
  const leader = await cluster.waitForLeader();
  const client = systemClient(cluster.system, cluster.endpoints());
  const writer = new ContinuousWriter(client, cluster.members.length, leader);
  try {
    writer.start();
    await writer.firstAckSentAfter(performance.now(), writesFlowingTimeoutMs);
    await sleep(beforeKillMs);
    const attemptsBefore = writer.attempts;
    const failuresBefore = writer.failures;
    const killedAtMs = await cluster.kill(leader);
    const ackedAtMs = await writer.firstAckSentAfter(killedAtMs, failoverTimeoutMs);
    writer.stop();
    const newLeader = await cluster.waitForLeader();
    cluster.restart(leader);
    await stableAfterRestart(cluster, client);
    return {
      killed: cluster.members[leader]!.id,
      newLeader: cluster.members[newLeader]!.id,
      failoverMs: ackedAtMs - killedAtMs,
      attempts: writer.attempts - attemptsBefore,
      failedAttempts: writer.failures - failuresBefore,
    };
  } finally {
    writer.stop();
    client.close();
  }
}

/** Every member runs and agrees on a leader, a write commits through it, then a short settle. */
async function stableAfterRestart(cluster: BenchCluster, client: SystemClient): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    const leader = await cluster.waitForLeader();
    if (cluster.running().length === cluster.members.length) {
      try {
        await client.write(leader, payloadValue(0), 2_000);
        break;
      } catch (error) {
        if (attempt >= 10) throw error;
      }
    }
    if (attempt >= 100) throw new BenchTimeoutError(`${cluster.system}: the restarted member did not rejoin`);
    await sleep(100);
  }
  await sleep(settleMs);
}
