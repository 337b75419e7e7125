#!/usr/bin/env node
// vigil-agent: one per KVM host. Wiring only: libvirt, the journal, the link to
// the control plane and the command executor. On SIGTERM everything stops in
// order and the keepalive (the stream's heartbeats) stops last, so a host is
// never declared dead for shutting down slowly (DESIGN §4).
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { systemClock, systemRng, systemTimers } from "../common/env.js";
import { UsageError, errorMessage } from "../common/errors.js";
import { agentDebugAccess } from "../common/authorization.js";
import { addHealthAndReflection, bindServer, messageBytesMax } from "../common/grpc-server.js";
import { createLogger } from "../common/logging.js";
import { createMetricsRegistry, registerAgentMetrics, serveMetrics } from "../common/metrics.js";
import { parseOptions, requireString, runMain, usageText, type OptionSpec } from "../common/options.js";
import { securityFromOptions } from "../common/security.js";
import { tlsOptionSpecs } from "../common/tls.js";
import { notifyReady, notifyStopping } from "../common/systemd.js";
import { hostIdProblem } from "../common/validate.js";
import { DiskSync } from "./disk-sync.js";
import { hostStats } from "./domain-status.js";
import { HypervisorEventSource } from "./events.js";
import { CommandExecutor } from "./executor.js";
import { defaultProgressIntervalMs } from "./migration.js";
import { fileImageStorage } from "./image-storage.js";
import { defaultScanIntervalMs, JobTracker } from "./job-tracker.js";
import { Journal } from "./journal.js";
import { exitProcess, libvirtCallsInFlight, LibvirtConnection } from "./libvirt/index.js";
import { SelfFenceGuard, selfFenceFromOptions } from "./self-fence.js";
import { ControlPlaneLink } from "./stream.js";
import { WatchdogDevice } from "./watchdog.js";

export const agentVersion = "0.1.0";

const optionSpecs: Record<string, OptionSpec> = {
  "host-id": { type: "string", description: "this host's id in the cluster", configKey: "hostId" },
  "control-plane": { type: "string", description: "vigild endpoints, addr[,addr...]", configKey: "controlPlane", defaultValue: "127.0.0.1:7400" },
  "libvirt-uri": { type: "string", description: "libvirt connection URI", configKey: "libvirtUri", defaultValue: "qemu:///system" },
  "state-dir": { type: "string", description: "directory of the agent's journal", configKey: "stateDir", defaultValue: "/var/lib/vigil/agent" },
  "migration-uri": { type: "string", description: "libvirt URI other hosts migrate to", configKey: "migrationUri", defaultValue: "" },
  listen: { type: "string", description: "optional local debug gRPC port (health, reflection)", defaultValue: "" },
  insecure: { type: "boolean", description: "connect and serve without TLS (development only)", defaultValue: false },
  ...tlsOptionSpecs,
  "metrics-listen": { type: "string", description: "Prometheus /metrics address, host:port (empty: off)", configKey: "metricsListen", defaultValue: "" },
  "self-fence-mode": { type: "string", description: "off | watchdog | destroy-vms: what the agent does after --self-fence-timeout without reaching a primary", configKey: "selfFence.mode", defaultValue: "off" },
  "self-fence-timeout": { type: "string", description: "seconds without reaching a primary before the agent fences itself", configKey: "selfFence.timeout", defaultValue: "120" },
  "self-fence-watchdog-device": { type: "string", description: "watchdog device fed while in contact (mode watchdog)", configKey: "selfFence.watchdogDevice", defaultValue: "/dev/watchdog" },
  "self-fence-watchdog-timeout": { type: "string", description: "the watchdog device's own timeout in seconds (below --self-fence-timeout)", configKey: "selfFence.watchdogTimeout", defaultValue: "60" },
  "self-fence-vms": { type: "string", description: "domains (names or UUIDs, comma-separated) destroyed in mode destroy-vms (empty: all that run)", configKey: "selfFence.vms", defaultValue: "" },
  "migration-progress-interval": { type: "string", description: "milliseconds between a running migration's progress reports (JobProgress, only when changed)", configKey: "migrationProgressIntervalMs", defaultValue: String(defaultProgressIntervalMs) },
  "job-scan-interval": { type: "string", description: "milliseconds between looks for block jobs others started (0: off)", configKey: "jobScanIntervalMs", defaultValue: String(defaultScanIntervalMs) },
};

const drainTimeoutMs = 10_000;
/** How long an executed command id is remembered for deduplication. */
const commandMemoryMs = 24 * 60 * 60 * 1000;

/** The kernel's boot id identifies this boot; VIGIL_BOOT_ID overrides it for tests. */
function bootId(): string {
  if (process.env.VIGIL_BOOT_ID) return process.env.VIGIL_BOOT_ID;
  const path = "/proc/sys/kernel/random/boot_id";
  return existsSync(path) ? readFileSync(path, "utf8").trim() : "unknown-boot";
}

function withTimeout(promise: Promise<unknown>, timeoutMs: number): Promise<unknown> {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
}

async function main(): Promise<void> {
  const { values } = parseOptions(process.argv.slice(2), optionSpecs, "/etc/vigil/agent.yaml");
  if (values.help === true) {
    process.stdout.write(`${usageText("vigil-agent", "--host-id ID --control-plane ADDR[,ADDR...] --libvirt-uri URI --state-dir DIR", optionSpecs)}\n`);
    return;
  }
  const hostId = requireString(values, "host-id");
  const problem = hostIdProblem(hostId);
  if (problem !== null) throw new UsageError(`--host-id ${problem}`);
  const endpoints = requireString(values, "control-plane").split(",").map((endpoint) => endpoint.trim()).filter(Boolean);
  if (endpoints.length === 0) throw new UsageError("--control-plane names no endpoint");
  const stateDir = requireString(values, "state-dir");
  const libvirtUri = requireString(values, "libvirt-uri");
  const selfFence = selfFenceFromOptions(values);

  const logger = createLogger("vigil-agent", { host: hostId });
  const security = securityFromOptions(values, { clock: systemClock, logger, what: "connecting and serving" });
  mkdirSync(stateDir, { recursive: true });
  const journal = new Journal(join(stateDir, "journal.db"));
  const scanIntervalMs = Number(values["job-scan-interval"]);
  if (!Number.isInteger(scanIntervalMs) || scanIntervalMs < 0) throw new UsageError(`--job-scan-interval must be whole milliseconds >= 0, got "${String(values["job-scan-interval"])}"`);
  const progressIntervalMs = Number(values["migration-progress-interval"]);
  if (!Number.isInteger(progressIntervalMs) || progressIntervalMs < 100) throw new UsageError(`--migration-progress-interval must be whole milliseconds >= 100, got "${String(values["migration-progress-interval"])}"`);
  // With libvirtd down the agent still starts: recovery reports its jobs unknown (DESIGN §9).
  const hypervisor = await LibvirtConnection.open(libvirtUri, { logger, startWhenUnavailable: true });
  let link: ControlPlaneLink | null = null;
  const notify = () => link?.notify();
  const events = new HypervisorEventSource({ hypervisor, journal, clock: systemClock, logger, onJournaled: notify });
  const env = { journal, hypervisor, clock: systemClock, timers: systemTimers, logger, onJournaled: notify };
  const diskSync = new DiskSync({ ...env, storage: fileImageStorage, rng: systemRng });
  // The tracker asks the executor which migrations it watches itself (called only once both exist).
  const jobs = new JobTracker({ ...env, diskSync, scanIntervalMs, ownsJob: (jobId) => executor.ownsJob(jobId) });
  const executor = new CommandExecutor({ ...env, diskSync, migration: { progressIntervalMs } });
  const sessionId = randomUUID();
  let guard: SelfFenceGuard | null = null;
  link = new ControlPlaneLink({
    endpoints,
    credentials: security.replicaChannelCredentials(),
    journal,
    clock: systemClock,
    timers: systemTimers,
    rng: systemRng,
    logger,
    hello: () => ({
      hostId,
      bootId: bootId(),
      sessionId,
      agentVersion,
      lastAckedSeq: journal.lastAckedSeq(),
      highestTerm: journal.highestTerm(),
      migrationUri: String(values["migration-uri"] ?? ""),
      capacity: hostStats(events.domains()),
      selfFence: { mode: selfFence.mode, timeoutMs: selfFence.settings?.timeoutMs ?? 0 },
    }),
    onContact: (sentAtMs) => guard?.contact(sentAtMs),
    onWelcome: () => {
      // Command ids are remembered only as long as a redelivery can happen (the control plane waits
      // minutes at most): the dedupe table stays bounded. A stale term is refused regardless.
      journal.forgetCommandsBefore(systemClock.nowMs() - commandMemoryMs);
      journal.forgetJobsBefore(systemClock.nowMs() - commandMemoryMs);
      return events.inventory();
    },
    onCommand: (command) => executor.handle(command),
    heartbeatStats: () => hostStats(events.domains()),
  });

  let debugServer: grpc.Server | null = null;
  if (typeof values.listen === "string" && values.listen !== "") {
    debugServer = new grpc.Server({
      interceptors: [security.interceptor(agentDebugAccess)],
      "grpc.max_receive_message_length": messageBytesMax,
      "grpc.max_send_message_length": messageBytesMax,
    });
    const extras = addHealthAndReflection(debugServer, []);
    await bindServer(debugServer, values.listen, security.serverCredentials());
    link.onConnectedChange((connected) => extras.setServing(connected ? "SERVING" : "NOT_SERVING"));
  }
  // Metrics (packaging): served before READY.
  const metricsRegistry = createMetricsRegistry();
  registerAgentMetrics(metricsRegistry, { journal, libvirt: hypervisor, jobs, diskSync });
  await serveMetrics({ listen: String(values["metrics-listen"] ?? ""), registry: metricsRegistry, logger });
  if (selfFence.settings !== null) {
    // Opened once every start-up step that can fail is behind us: from here on the kernel counts,
    // and an agent that dies at start must not reset the host. A missing device stops the agent now.
    let watchdog: WatchdogDevice | null = null;
    if (selfFence.mode === "watchdog") {
      try {
        watchdog = WatchdogDevice.open(selfFence.watchdogDevice);
      } catch (error) {
        throw new UsageError(`--self-fence-watchdog-device (selfFence.watchdogDevice): ${errorMessage(error)}`);
      }
      if (!watchdog.isCharacterDevice) logger.warn({ watchdog: watchdog.path }, "the self-fence watchdog is not a character device: it cannot reset this host");
    }
    guard = new SelfFenceGuard({
      settings: selfFence.settings,
      protectedDomains: selfFence.protectedDomains,
      hypervisor,
      watchdog,
      clock: systemClock,
      timers: systemTimers,
      logger,
      isConnected: () => link?.isConnected() === true,
      probe: () => {
        journal.append({ contactProbe: {} }, systemClock.nowMs());
        notify();
      },
    });
    guard.start(await domainsRunning(hypervisor));
  }
  // Recovery before the agent reports ready (DESIGN §9): the link, READY and health SERVING follow it.
  events.start();
  jobs.start();
  await events.recoverMissed();
  await jobs.recover();
  diskSync.start();
  link.start();
  logger.info({ endpoints, libvirtUri, stateDir }, "vigil-agent started");
  notifyReady(`connected to ${libvirtUri}, control plane ${endpoints.join(",")}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    notifyStopping();
    // Everything else first, the keepalive last (DESIGN §4): until the stream closes the control
    // plane keeps receiving heartbeats, so a slow stop never looks like a dead host.
    await withTimeout(executor.drain(), drainTimeoutMs);
    logger.info("shutdown: command executor drained");
    await events.stop();
    logger.info("shutdown: hypervisor event source stopped");
    await guard?.stop();
    await jobs.stop();
    await diskSync.stop();
    debugServer?.forceShutdown();
    // Bounded: a migration's (or a hung virDomainAbortJob's) native call may still hold the connection.
    await withTimeout(hypervisor.close(), drainTimeoutMs);
    logger.info("shutdown: libvirt connection closed");
    await link!.stop();
    logger.info("shutdown: control plane stream closed (keepalive stopped last)");
    security.stop();
    journal.close();
    // A running migration's libvirt call does not end with the agent: it is libvirt's, and the
    // journal keeps its job for recovery after the restart (DESIGN §9). The exit does not wait for it.
    const inFlight = libvirtCallsInFlight();
    logger.info(inFlight.length === 0 ? {} : { libvirtCallsInFlight: inFlight }, "stopped");
    exitProcess(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

/** Whether anything runs at start: then the self-fence clock is armed at once (self-fence-clock.ts). */
async function domainsRunning(hypervisor: LibvirtConnection): Promise<boolean> {
  try {
    return (await hypervisor.listDomains()).some((domain) => domain.state !== "shutoff");
  } catch {
    // Unknown: arm, the safe side.
    return true;
  }
}

runMain("vigil-agent", main);
