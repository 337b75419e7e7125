#!/usr/bin/env node
// vigild: one replica of the control plane. Wiring only; decisions live in primary/ and replication/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { systemClock, systemRng, systemTimers } from "../common/env.js";
import { UsageError } from "../common/errors.js";
import { bindServer } from "../common/grpc-server.js";
import { createLogger } from "../common/logging.js";
import { createMetricsRegistry, registerControlPlaneMetrics, serveMetrics } from "../common/metrics.js";
import { vigildAccess } from "../common/authorization.js";
import { parseOptions, requireString, runMain, usageText, type OptionSpec } from "../common/options.js";
import { securityFromOptions, vigildSecurityOptionSpecs } from "../common/security.js";
import { tlsOptionSpecs } from "../common/tls.js";
import { notifyReady, notifyStopping } from "../common/systemd.js";
import { hostIdProblem } from "../common/validate.js";
import { clusterConfig, type ControlPlaneContext } from "./context.js";
import { fenceMethodsFromConfig } from "./fencing/config.js";
import { CommandDispatcher } from "./primary/dispatcher.js";
import { AgentRelay } from "./primary/agent-relay.js";
import { DutyGate } from "./primary/duty-gate.js";
import { HaDuty } from "./primary/ha-duty.js";
import { JobDuty } from "./primary/job-duty.js";
import { FlushDuty } from "./primary/flush-duty.js";
import { MigrationDuty } from "./primary/migration-duty.js";
import { PrimaryTracker } from "./primary/primary-tracker.js";
import { SessionRegistry } from "./primary/sessions.js";
import { GrpcPeerTransport } from "./replication/grpc-transport.js";
import { RaftReplica } from "./replication/raft-replica.js";
import { replicaId as toReplicaId } from "./replication/raft-types.js";
import { createControlPlaneServer, shutdownServer } from "./server.js";
import { lockDatabase } from "./state/lock.js";
import { openDatabase } from "./state/store.js";

const optionSpecs: Record<string, OptionSpec> = {
  id: { type: "string", description: "this replica's id", defaultValue: "cp1" },
  listen: { type: "string", description: "gRPC address for agents, vigilctl and peers", defaultValue: "127.0.0.1:7400" },
  peers: { type: "string", description: "initial members as id=addr,... (empty: a single replica)", defaultValue: "" },
  "data-dir": { type: "string", description: "directory of this replica's SQLite file", configKey: "dataDir", defaultValue: "/var/lib/vigil/vigild" },
  insecure: { type: "boolean", description: "serve without TLS (development only)", defaultValue: false },
  ...tlsOptionSpecs,
  ...vigildSecurityOptionSpecs,
  join: { type: "boolean", description: "join the existing cluster of --peers (after `vigilctl cluster member add`) instead of founding one", defaultValue: false },
  "metrics-listen": { type: "string", description: "Prometheus /metrics address, host:port (empty: off)", configKey: "metricsListen", defaultValue: "" },
  "snapshot-entries": { type: "string", description: "applied entries between snapshots", configKey: "snapshotEntries", defaultValue: "10000" },
  "retained-entries": { type: "string", description: "log entries kept behind a snapshot for slow followers", configKey: "retainedEntries", defaultValue: "5000" },
  fencing: { type: "section", description: "how each host is fenced (YAML file only; see controlplane/fencing/config.ts)" },
};

/** Duties are re-checked this often: the bound on how late a lost lease stops them. */
const dutyPollIntervalMs = 50;

function positiveIntegerOption(values: Record<string, unknown>, flag: string): number {
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value <= 0) throw new UsageError(`--${flag} must be a whole number > 0, got "${String(values[flag])}"`);
  return value;
}

const stopGraceMs = 5_000;

async function main(): Promise<void> {
  const { values, sections, configFile } = parseOptions(process.argv.slice(2), optionSpecs, "/etc/vigil/vigild.yaml");
  if (values.help === true) {
    process.stdout.write(`${usageText("vigild", "--id ID --listen ADDR --data-dir DIR [--peers id=addr,...] [--config FILE]", optionSpecs)}\n`);
    return;
  }
  const replicaId = requireString(values, "id");
  const idProblem = hostIdProblem(replicaId);
  if (idProblem !== null) throw new UsageError(`--id ${idProblem}`);
  const listen = requireString(values, "listen");
  const dataDir = requireString(values, "data-dir");
  const initialMembers = parsePeers(String(values.peers ?? ""), replicaId, listen);
  const snapshotEveryEntries = positiveIntegerOption(values, "snapshot-entries");
  const retainedEntries = positiveIntegerOption(values, "retained-entries");

  const logger = createLogger("vigild", { replica: replicaId });
  const security = securityFromOptions(values, { clock: systemClock, logger: logger.child({ component: "security" }), what: "serving" });
  const peerCredentials = security.replicaChannelCredentials();
  // Validated before anything starts: a bad fencing section stops vigild with exit 2.
  // The HA duty fences each host through fenceMethods.methodFor(hostId).
  const fenceMethods = fenceMethodsFromConfig(sections.fencing, { configFile, clock: systemClock, timers: systemTimers, logger });
  logger.info({ fencing: fenceMethods.summary() }, "fencing configured");
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase({ path: join(dataDir, "vigild.db") });
  lockDatabase(db, dataDir);

  let log: RaftReplica | null = null;
  const transport = new GrpcPeerTransport({
    replicaId: toReplicaId(replicaId),
    clusterId: "",
    credentials: peerCredentials,
    logger: logger.child({ component: "peer" }),
    address: (peer) => log?.stateMachine.reader.memberAddresses().get(peer),
    isKnownPeer: (peer) => log?.stateMachine.reader.memberAddresses().has(peer) === true,
  });
  log = new RaftReplica({ db, dataDir, replicaId, address: listen, transport, clock: systemClock, timers: systemTimers, rng: systemRng, logger: logger.child({ component: "raft" }), snapshotEveryEntries, retainedEntries });
  transport.setClusterId(values.join === true ? log.joinExisting(await clusterIdOfPeers(initialMembers, replicaId, peerCredentials), initialMembers) : log.bootstrapOrCheck(initialMembers));
  const replica = log;
  const reader = log.stateMachine.reader;
  const config = () => clusterConfig(reader);
  const sessions = new SessionRegistry();
  const primary = new PrimaryTracker(
    systemClock,
    () => ({
      // A single voter has no other replica that could hold the lease.
      previousLeaseWaitMs: replica.status().members.length === 1 ? 0 : replica.previousLeaseWaitMs(),
      takeoverGraceMs: config().keepaliveIntervalMs * config().savingThrows,
    }),
    () => replica.holdsLease(),
  );
  const dispatcher = new CommandDispatcher({ log: replica, sessions, timers: systemTimers, commandBlocker: () => primary.commandBlocker(), logger });
  const duties = new DutyGate(primary, systemClock, logger, () => replica.leaseExpiresAtMs());
  const context: ControlPlaneContext = { replicaId, address: listen, log: replica, reader, sessions, dispatcher, primary, duties, clock: systemClock, timers: systemTimers, logger, config, peerCredentials, fenceMethods };
  // Liveness, fencing, skip-trace expiry and HA restarts: a primary duty (DESIGN §5-§7).
  duties.subscribe(new HaDuty(context, context.fenceMethods));
  // Agent recovery (DESIGN §9): disk syncs for VMs that moved before their job resolved, unknown-job escalation.
  // Migrations (adjudication, fallback) and flush/unflush orchestrations, resumed from replicated state (DESIGN §8).
  duties.subscribe(new MigrationDuty(context));
  duties.subscribe(new FlushDuty(context));
  new JobDuty({ log: replica, reader, sessions, dispatcher, duties, clock: systemClock, timers: systemTimers, logger, unknownTimeoutMs: () => config().jobUnknownTimeoutMs, commandTimeoutMs: () => config().commandTimeoutMs }).attach();

  replica.onApplied((notices) => {
    for (const notice of notices) {
      if (notice.kind === "PrimaryTakeover" && notice.replicaId === replicaId && notice.term === replica.currentTerm()) primary.tookOver(notice.term);
    }
  });
  replica.onLeadershipChange((change) => {
    if (!change.leader) return primary.stepDown();
    replica.propose({ kind: "PrimaryTakeover", term: change.term, replicaId }).catch((error: unknown) => logger.warn({ err: String(error) }, "takeover not committed"));
  });

  const relay = new AgentRelay({ replicaId, clusterId: () => reader.meta("cluster_id") ?? "", sessions, transport, log: replica, clock: systemClock, timers: systemTimers, logger: logger.child({ component: "relay" }) });
  const { server, extras } = createControlPlaneServer(context, transport, [security.interceptor(vigildAccess)]);
  const port = await bindServer(server, listen, security.serverCredentials());
  replica.start();
  relay.start();
  // Health says SERVING only once this replica knows a leader and has applied all it knows to be
  // committed: a replica still catching up must not take traffic from a load balancer.
  let ready = false;
  const updateReadiness = () => {
    const status = replica.status();
    const self = status.members.find((member) => member.id === replicaId);
    const caughtUp = status.leaderId !== null && self !== undefined && self.appliedIndex >= self.commitIndex;
    if (caughtUp === ready) return;
    ready = caughtUp;
    extras.setServing(ready ? "SERVING" : "NOT_SERVING");
    logger.info({ leader: status.leaderId, appliedIndex: self?.appliedIndex, commitIndex: self?.commitIndex }, ready ? "health: serving (caught up)" : "health: not serving (no leader or catching up)");
  };
  const pollDuties = () => {
    duties.poll();
    updateReadiness();
    cancelDutyPoll = systemTimers.after(dutyPollIntervalMs, pollDuties);
  };
  let cancelDutyPoll = systemTimers.after(dutyPollIntervalMs, pollDuties);
  // Metrics (packaging): served before READY; later duties increment the counters registerControlPlaneMetrics returns.
  const metricsRegistry = createMetricsRegistry();
  registerControlPlaneMetrics(metricsRegistry, { replication: context.log, hosts: context.reader });
  await serveMetrics({ listen: String(values["metrics-listen"] ?? ""), registry: metricsRegistry, logger });
  logger.info({ listen, port, term: replica.currentTerm(), dataDir, members: [...initialMembers.keys()] }, "vigild ready");
  notifyReady(`serving on ${listen}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    notifyStopping();
    extras.setServing("NOT_SERVING");
    primary.stepDown();
    cancelDutyPoll();
    duties.poll();
    relay.stop();
    sessions.closeAll("the control plane replica is stopping");
    await shutdownServer(server, stopGraceMs);
    await replica.close();
    security.stop();
    db.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

/** The cluster id, as the first reachable other member of `members` tells it (bounded). */
async function clusterIdOfPeers(members: Map<string, string>, selfId: string, credentials: grpc.ChannelCredentials): Promise<string> {
  const errors: string[] = [];
  for (const [id, address] of members) {
    if (id === selfId) continue;
    try {
      return await GrpcPeerTransport.askClusterId(address, credentials, 5_000);
    } catch (error) {
      errors.push(`${id} at ${address}: ${(error as Error).message}`);
    }
  }
  throw new Error(`--join: no member of --peers answered (${errors.join("; ") || "no other member listed"})`);
}

/** `--peers id=addr,...` as a map that includes this replica; empty means a single replica. */
export function parsePeers(text: string, selfId: string, selfAddress: string): Map<string, string> {
  const members = new Map<string, string>();
  for (const item of text.split(",").map((part) => part.trim()).filter(Boolean)) {
    const [id, address, ...rest] = item.split("=");
    if (id === undefined || address === undefined || rest.length > 0 || address === "") throw new UsageError(`--peers: "${item}" is not id=address`);
    const problem = hostIdProblem(id);
    if (problem !== null) throw new UsageError(`--peers: replica id ${problem}`);
    if (members.has(id)) throw new UsageError(`--peers: replica ${id} is listed twice`);
    members.set(id, address);
  }
  if (members.size === 0) members.set(selfId, selfAddress);
  if (!members.has(selfId)) throw new UsageError(`--peers does not list this replica (--id ${selfId})`);
  return members;
}

runMain("vigild", main);
