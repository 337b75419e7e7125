// Benchmark of the libvirt binding (issue 3): nanoseconds per call of virConnectIsAlive and
// virDomainGetState through the binding against python3-libvirt making the same calls in the same
// run, and lifecycle event delivery latency (p50/p99 over 10,000 events) on the test driver.
// Writes bench/results/ffi.json (DESIGN §11 "Tooling contract") and prints a short report.
//
// Run: node dist/bench/ffi.js [--quick]   (after `npx tsc -p tsconfig.json`)
//
// Method. Per-call: a tight loop per round, ROUNDS rounds, the median round reported; each of our
// rounds is followed by one round of the peer, python3 (bench/ffi/peer.py) making the same calls on
// the same driver, so both see the same machine load. Events: the main thread suspends/resumes the
// test driver's domain with a direct synchronous libvirt call and waits for the lifecycle event to
// reach a LibvirtConnection listener; latency is the time from just before the call to the listener,
// one event at a time. The events run in chunks, ours and python's alternating, after a warm-up.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { LibvirtConnection, type DomainHandle } from "../agent/libvirt/index.js";
import { native, type DomainPointer } from "../agent/libvirt/ffi.js";

const quick = process.argv.includes("--quick");
const rounds = quick ? 3 : 7;
const isAliveCalls = quick ? 200_000 : 1_000_000;
const getStateCalls = quick ? 50_000 : 200_000;
const eventCount = quick ? 2_000 : 10_000;
const eventChunks = 5;
const eventWarmUpCount = 200;
const eventWaitTimeoutMs = 5_000;
const pythonTimeoutMs = 5 * 60_000;
const debianPython = "/usr/bin/python3"; // python3-libvirt is built for Debian's interpreter
const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));

interface Metric {
  value: number;
  unit: string;
  peer: number | null;
  peerName: string;
  ratio: number | null;
  goal: string;
  met: boolean;
}

interface PeerResult {
  pythonVersion: string;
  libvirtVersion: number;
  isAliveNs?: number[];
  getStateNs?: number[];
  eventLatencyUs?: number[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function perCallNs(call: () => unknown, calls: number): number {
  const started = process.hrtime.bigint();
  for (let index = 0; index < calls; index++) call();
  return Number(process.hrtime.bigint() - started) / calls;
}

/** Lifecycle event latencies in microseconds, one event in flight at a time. */
async function eventLatenciesUs(connection: LibvirtConnection, domain: DomainPointer, count: number): Promise<number[]> {
  let notify: (() => void) | null = null;
  let receivedAt = 0;
  const unsubscribe = connection.onLifecycle(() => {
    receivedAt = performance.now();
    notify?.();
  });
  const latencies: number[] = [];
  for (let index = 0; index < count; index++) {
    const received = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no lifecycle event within ${eventWaitTimeoutMs} ms`)), eventWaitTimeoutMs);
      notify = () => (clearTimeout(timer), resolve());
    });
    const started = performance.now();
    const result = index % 2 === 0 ? native.virDomainSuspend(domain) : native.virDomainResume(domain);
    if (result < 0) throw new Error(`suspend/resume failed at event ${index}`);
    await received;
    latencies.push((receivedAt - started) * 1000);
  }
  unsubscribe();
  return latencies;
}

function ensurePythonLibvirt(): boolean {
  const probe = () => spawnSync(debianPython, ["-c", "import libvirt"], { stdio: "ignore" }).status === 0;
  if (probe()) return true;
  if (process.getuid?.() !== 0) return false;
  spawnSync("bash", ["-c", `. '${repositoryRoot}scripts/lab/lib.sh' && ensure_packages python3-libvirt`], { stdio: "inherit" });
  return probe();
}

function runPeer(parts: { rounds: number; isAliveCalls: number; getStateCalls: number; events: number }): PeerResult {
  const counts = [parts.rounds, parts.isAliveCalls, parts.getStateCalls, parts.events].map(String);
  const args = [`${repositoryRoot}bench/ffi/peer.py`, ...counts];
  const result = spawnSync(debianPython, args, { encoding: "utf8", timeout: pythonTimeoutMs });
  if (result.status !== 0) throw new Error(`python3-libvirt peer failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as PeerResult;
}

/**
 * Median of ours and of the peer's rounds; the ratio is the median of the per-round ratios (each of
 * our rounds against the python round run right after it), which cancels slow drifts in machine load.
 */
function perCallMetric(ours: number[], peer: number[] | null): Metric {
  const ratio = peer === null || peer.length !== ours.length ? null : median(ours.map((value, index) => value / peer[index]!));
  return {
    value: Math.round(median(ours)),
    unit: "ns/call",
    peer: peer === null ? null : Math.round(median(peer)),
    peerName: "python3-libvirt",
    ratio: ratio === null ? null : Number(ratio.toFixed(3)),
    goal: "<= 1.0x python3-libvirt",
    met: ratio !== null && ratio <= 1.0,
  };
}

function latencyMetric(valueUs: number, peerUs: number | null): Metric {
  const ratio = peerUs === null ? null : valueUs / peerUs;
  return {
    value: Number(valueUs.toFixed(1)),
    unit: "us",
    peer: peerUs === null ? null : Number(peerUs.toFixed(1)),
    peerName: "python3-libvirt (event loop thread + threading.Event)",
    ratio: ratio === null ? null : Number(ratio.toFixed(3)),
    goal: "<= 1000 us",
    met: valueUs <= 1000,
  };
}

interface Measurements {
  isAliveNs: number[];
  getStateNs: number[];
  getStateDecodedNs: number[];
  latenciesUs: number[];
  peer: { pythonVersion: string; libvirtVersion: number; isAliveNs: number[]; getStateNs: number[]; latenciesUs: number[] } | null;
}

/** Our rounds, each followed by one python round. */
function measurePerCall(connection: LibvirtConnection, handle: DomainHandle, measurements: Measurements): void {
  perCallNs(() => connection.isAlive(), Math.floor(isAliveCalls / 10)); // warm-up: JIT and libvirt caches
  perCallNs(() => handle.state(), Math.floor(getStateCalls / 10));
  for (let round = 0; round < rounds; round++) {
    measurements.isAliveNs.push(perCallNs(() => connection.isAlive(), isAliveCalls));
    measurements.getStateNs.push(perCallNs(() => handle.stateCodes(), getStateCalls));
    measurements.getStateDecodedNs.push(perCallNs(() => handle.state(), getStateCalls));
    if (measurements.peer === null) continue;
    const peer = runPeer({ rounds: 1, isAliveCalls, getStateCalls, events: 0 });
    measurements.peer.isAliveNs.push(...(peer.isAliveNs ?? []));
    measurements.peer.getStateNs.push(...(peer.getStateNs ?? []));
  }
}

/** Chunks of events, ours then python's, alternating. */
async function measureEvents(connection: LibvirtConnection, measurements: Measurements): Promise<void> {
  // A raw connection of our own for the synchronous suspend/resume: the test driver's default
  // connection is shared inside the process, so its events reach the binding's listener.
  const raw = native.virConnectOpen("test:///default");
  if (raw === null) throw new Error("virConnectOpen(test:///default) failed");
  const domain = native.virDomainLookupByName(raw, "test");
  if (domain === null) throw new Error("the test driver has no domain named test");
  await eventLatenciesUs(connection, domain, eventWarmUpCount);
  const chunkSize = Math.ceil(eventCount / eventChunks);
  for (let chunk = 0; chunk < eventChunks; chunk++) {
    measurements.latenciesUs.push(...(await eventLatenciesUs(connection, domain, chunkSize)));
    if (measurements.peer === null) continue;
    const peer = runPeer({ rounds: 0, isAliveCalls: 0, getStateCalls: 0, events: chunkSize });
    measurements.peer.latenciesUs.push(...(peer.eventLatencyUs ?? []));
  }
  native.virDomainFree(domain);
  native.virConnectClose(raw);
}

async function measure(): Promise<Measurements> {
  const versions = ensurePythonLibvirt() ? runPeer({ rounds: 0, isAliveCalls: 0, getStateCalls: 0, events: 0 }) : null;
  const measurements: Measurements = {
    isAliveNs: [],
    getStateNs: [],
    getStateDecodedNs: [],
    latenciesUs: [],
    peer: versions === null ? null : { ...versions, isAliveNs: [], getStateNs: [], latenciesUs: [] },
  };
  const connection = await LibvirtConnection.open("test:///default");
  const handle = await connection.openDomainHandle("test");
  measurePerCall(connection, handle, measurements);
  handle.close();
  await measureEvents(connection, measurements);
  await connection.close();
  return measurements;
}

async function main(): Promise<void> {
  const loadAverageBefore = os.loadavg()[0];
  const measured = await measure();
  const peer = measured.peer;
  const peerPercentile = (fraction: number) => (peer === null ? null : percentile(peer.latenciesUs, fraction));
  const metrics: Record<string, Metric> = {
    "virConnectIsAlive.nsPerCall": perCallMetric(measured.isAliveNs, peer?.isAliveNs ?? null),
    "virDomainGetState.nsPerCall": perCallMetric(measured.getStateNs, peer?.getStateNs ?? null),
    "virDomainGetState.decoded.nsPerCall": perCallMetric(measured.getStateDecodedNs, peer?.getStateNs ?? null),
    "lifecycleEvent.latency.p50": latencyMetric(percentile(measured.latenciesUs, 0.5), peerPercentile(0.5)),
    "lifecycleEvent.latency.p99": latencyMetric(percentile(measured.latenciesUs, 0.99), peerPercentile(0.99)),
  };
  const report = {
    name: "ffi",
    when: new Date().toISOString(),
    machine: {
      model: os.cpus()[0]?.model ?? "unknown",
      cpus: os.cpus().length,
      memoryBytes: os.totalmem(),
      node: process.version,
      python: peer?.pythonVersion ?? null,
      libvirt: peer === null ? null : versionString(peer.libvirtVersion),
      loadAverage1m: { before: loadAverageBefore, after: os.loadavg()[0] },
      rounds,
      isAliveCalls,
      getStateCalls,
      events: measured.latenciesUs.length,
    },
    metrics,
  };
  const resultsDirectory = `${repositoryRoot}bench/results`;
  mkdirSync(resultsDirectory, { recursive: true });
  writeFileSync(`${resultsDirectory}/ffi.json`, `${JSON.stringify(report, null, 2)}\n`);
  printReport(metrics, peer === null, report.machine.loadAverage1m);
}

function versionString(version: number): string {
  return `${Math.floor(version / 1e6)}.${Math.floor(version / 1e3) % 1e3}.${version % 1e3}`;
}

function printReport(metrics: Record<string, Metric>, peerMissing: boolean, load: { before: number | undefined; after: number | undefined }): void {
  console.log("ffi: libvirt binding (koffi) vs python3-libvirt, test:///default, same run");
  for (const [name, metric] of Object.entries(metrics)) {
    const peer = metric.peer === null ? "n/a" : `${metric.peer} ${metric.unit}`;
    const ratio = metric.ratio === null ? "" : ` (${metric.ratio}x)`;
    console.log(`  ${name.padEnd(38)} ${`${metric.value} ${metric.unit}`.padStart(14)}  python ${peer}${ratio}  goal ${metric.goal}: ${metric.met ? "met" : "NOT met"}`);
  }
  if (peerMissing) console.log("  python3-libvirt unavailable: per-call goals cannot be judged");
  console.log(`  load average (1 min) ${load.before?.toFixed(2)} before, ${load.after?.toFixed(2)} after; written to bench/results/ffi.json`);
}

await main();
