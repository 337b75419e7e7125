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
import { UsageError } from "../common/errors.js";
import { addHealthAndReflection, bindServer } from "../common/grpc-server.js";
import { createLogger } from "../common/logging.js";
import { createMetricsRegistry, registerAgentMetrics, serveMetrics } from "../common/metrics.js";
import { parseOptions, requireString, runMain, usageText, type OptionSpec } from "../common/options.js";
import { notifyReady, notifyStopping } from "../common/systemd.js";
import { hostIdProblem } from "../common/validate.js";
import { hostStats } from "./domain-status.js";
import { HypervisorEventSource } from "./events.js";
import { CommandExecutor } from "./executor.js";
import { Journal } from "./journal.js";
import { LibvirtConnection } from "./libvirt/index.js";
import { ControlPlaneLink } from "./stream.js";

export const agentVersion = "0.1.0";

const optionSpecs: Record<string, OptionSpec> = {
  "host-id": { type: "string", description: "this host's id in the cluster", configKey: "hostId" },
  "control-plane": { type: "string", description: "vigild endpoints, addr[,addr...]", configKey: "controlPlane", defaultValue: "127.0.0.1:7400" },
  "libvirt-uri": { type: "string", description: "libvirt connection URI", configKey: "libvirtUri", defaultValue: "qemu:///system" },
  "state-dir": { type: "string", description: "directory of the agent's journal", configKey: "stateDir", defaultValue: "/var/lib/vigil/agent" },
  "migration-uri": { type: "string", description: "libvirt URI other hosts migrate to", configKey: "migrationUri", defaultValue: "" },
  listen: { type: "string", description: "optional local debug gRPC port (health, reflection)", defaultValue: "" },
  insecure: { type: "boolean", description: "connect without TLS (development only)", defaultValue: false },
  "metrics-listen": { type: "string", description: "Prometheus /metrics address, host:port (empty: off)", configKey: "metricsListen", defaultValue: "" },
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
  if (values.insecure !== true) throw new UsageError("mTLS is not configured in this version; pass --insecure to run without TLS (development only)");

  const logger = createLogger("vigil-agent", { host: hostId });
  logger.warn("connecting without TLS (--insecure): for development only");
  mkdirSync(stateDir, { recursive: true });
  const journal = new Journal(join(stateDir, "journal.db"));
  const hypervisor = await LibvirtConnection.open(libvirtUri, { logger });
  let link: ControlPlaneLink | null = null;
  const notify = () => link?.notify();
  const events = new HypervisorEventSource({ hypervisor, journal, clock: systemClock, logger, onJournaled: notify });
  const executor = new CommandExecutor({ journal, hypervisor, clock: systemClock, timers: systemTimers, logger, onJournaled: notify });
  const sessionId = randomUUID();
  link = new ControlPlaneLink({
    endpoints,
    credentials: grpc.credentials.createInsecure(),
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
    }),
    onWelcome: () => {
      // Command ids are remembered only as long as a redelivery can happen (the control plane waits
      // minutes at most): the dedupe table stays bounded. A stale term is refused regardless.
      journal.forgetCommandsBefore(systemClock.nowMs() - commandMemoryMs);
      return events.inventory();
    },
    onCommand: (command) => executor.handle(command),
    heartbeatStats: () => hostStats(events.domains()),
  });
  events.start();
  link.start();

  let debugServer: grpc.Server | null = null;
  if (typeof values.listen === "string" && values.listen !== "") {
    debugServer = new grpc.Server();
    const extras = addHealthAndReflection(debugServer, []);
    await bindServer(debugServer, values.listen, grpc.ServerCredentials.createInsecure());
    link.onConnectedChange((connected) => extras.setServing(connected ? "SERVING" : "NOT_SERVING"));
  }
  // Metrics (packaging): served before READY.
  const metricsRegistry = createMetricsRegistry();
  registerAgentMetrics(metricsRegistry, { journal, libvirt: hypervisor });
  await serveMetrics({ listen: String(values["metrics-listen"] ?? ""), registry: metricsRegistry, logger });
  logger.info({ endpoints, libvirtUri, stateDir }, "vigil-agent started");
  notifyReady(`connected to ${libvirtUri}, control plane ${endpoints.join(",")}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    notifyStopping();
    await withTimeout(executor.drain(), drainTimeoutMs);
    await events.stop();
    debugServer?.forceShutdown();
    await hypervisor.close();
    // The keepalive stops last.
    await link!.stop();
    journal.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

runMain("vigil-agent", main);
