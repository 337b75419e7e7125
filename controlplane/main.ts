#!/usr/bin/env node
// vigild: one replica of the control plane. Wiring only; decisions live in primary/ and replication/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { systemClock, systemTimers } from "../common/env.js";
import { UsageError } from "../common/errors.js";
import { bindServer } from "../common/grpc-server.js";
import { createLogger } from "../common/logging.js";
import { createMetricsRegistry, registerControlPlaneMetrics, serveMetrics } from "../common/metrics.js";
import { parseOptions, requireString, runMain, usageText, type OptionSpec } from "../common/options.js";
import { notifyReady, notifyStopping } from "../common/systemd.js";
import { hostIdProblem } from "../common/validate.js";
import { clusterConfig, type ControlPlaneContext } from "./context.js";
import { CommandDispatcher } from "./primary/dispatcher.js";
import { PrimaryTracker } from "./primary/primary-tracker.js";
import { SessionRegistry } from "./primary/sessions.js";
import { SingleReplicaLog } from "./replication/single-replica.js";
import { createControlPlaneServer, shutdownServer } from "./server.js";
import { lockDatabase } from "./state/lock.js";
import { openDatabase } from "./state/store.js";

const optionSpecs: Record<string, OptionSpec> = {
  id: { type: "string", description: "this replica's id", defaultValue: "cp1" },
  listen: { type: "string", description: "gRPC address for agents, vigilctl and peers", defaultValue: "127.0.0.1:7400" },
  peers: { type: "string", description: "initial members as id=addr,... (empty: a single replica)", defaultValue: "" },
  "data-dir": { type: "string", description: "directory of this replica's SQLite file", configKey: "dataDir", defaultValue: "/var/lib/vigil/vigild" },
  insecure: { type: "boolean", description: "serve without TLS (development only)", defaultValue: false },
  "metrics-listen": { type: "string", description: "Prometheus /metrics address, host:port (empty: off)", configKey: "metricsListen", defaultValue: "" },
};

const stopGraceMs = 5_000;

async function main(): Promise<void> {
  const { values } = parseOptions(process.argv.slice(2), optionSpecs, "/etc/vigil/vigild.yaml");
  if (values.help === true) {
    process.stdout.write(`${usageText("vigild", "--id ID --listen ADDR --data-dir DIR [--peers id=addr,...] [--config FILE]", optionSpecs)}\n`);
    return;
  }
  const replicaId = requireString(values, "id");
  const idProblem = hostIdProblem(replicaId);
  if (idProblem !== null) throw new UsageError(`--id ${idProblem}`);
  const listen = requireString(values, "listen");
  const dataDir = requireString(values, "data-dir");
  if (values.peers !== "" && values.peers !== `${replicaId}=${listen}`) {
    throw new UsageError("--peers with other replicas needs replication, which this version does not have yet; leave it empty for a single replica");
  }
  if (values.insecure !== true) throw new UsageError("mTLS is not configured in this version; pass --insecure to run without TLS (development only)");

  const logger = createLogger("vigild", { replica: replicaId });
  logger.warn("serving without TLS (--insecure): for development only");
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase({ path: join(dataDir, "vigild.db") });
  lockDatabase(db, dataDir);

  const log = new SingleReplicaLog({ db, replicaId, address: listen, clock: systemClock });
  const reader = log.stateMachine.reader;
  const config = () => clusterConfig(reader);
  const sessions = new SessionRegistry();
  const primary = new PrimaryTracker(systemClock, () => ({
    // One replica: no other primary can have held the lease.
    previousLeaseWaitMs: 0,
    takeoverGraceMs: config().keepaliveIntervalMs * config().savingThrows,
  }));
  const dispatcher = new CommandDispatcher({ log, sessions, timers: systemTimers, commandBlocker: () => primary.commandBlocker(), logger });
  const context: ControlPlaneContext = { replicaId, address: listen, log, reader, sessions, dispatcher, primary, clock: systemClock, timers: systemTimers, logger, config };

  log.onApplied((notices) => {
    for (const notice of notices) {
      if (notice.kind === "PrimaryTakeover" && notice.replicaId === replicaId && notice.term === log.currentTerm()) primary.tookOver(notice.term);
    }
  });
  log.onLeadershipChange((change) => {
    if (!change.leader) return primary.stepDown();
    log.propose({ kind: "PrimaryTakeover", term: change.term, replicaId }).catch((error: unknown) => logger.error({ err: error }, "takeover not committed"));
  });

  const { server, extras } = createControlPlaneServer(context);
  const port = await bindServer(server, listen, grpc.ServerCredentials.createInsecure());
  log.start();
  extras.setServing("SERVING");
  // Metrics (packaging): served before READY; later duties increment the counters registerControlPlaneMetrics returns.
  const metricsRegistry = createMetricsRegistry();
  registerControlPlaneMetrics(metricsRegistry, { replication: context.log, hosts: context.reader });
  await serveMetrics({ listen: String(values["metrics-listen"] ?? ""), registry: metricsRegistry, logger });
  logger.info({ listen, port, term: log.currentTerm(), dataDir }, "vigild ready");
  notifyReady(`serving on ${listen}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    notifyStopping();
    extras.setServing("NOT_SERVING");
    primary.stepDown();
    sessions.closeAll("the control plane replica is stopping");
    await shutdownServer(server, stopGraceMs);
    await log.close();
    db.close();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

runMain("vigild", main);
