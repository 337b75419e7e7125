// Everything a control-plane service needs, assembled once in main.ts.
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Clock, Timers } from "../common/env.js";
import type { Logger } from "../common/logging.js";
import type { CommandDispatcher } from "./primary/dispatcher.js";
import type { DutyGate } from "./primary/duty-gate.js";
import type { FenceMethods } from "./primary/fence-device.js";
import type { PrimaryTracker } from "./primary/primary-tracker.js";
import type { SessionRegistry } from "./primary/sessions.js";
import type { ReplicatedLog } from "./replication/log.js";
import type { StateReader } from "./state/store.js";

export interface ClusterConfig {
  keepaliveIntervalMs: number;
  savingThrows: number;
  commandTimeoutMs: number;
  connectivityThreshold: number;
  selfFenceMarginMs: number;
  fenceRetryBackoffMs: number;
  fenceRetryBackoffMaxMs: number;
  haMaxConcurrentRestarts: number;
  haRestartWindowMs: number;
  orphanedSkipTimeoutMs: number;
  jobUnknownTimeoutMs: number;
  migrationTimeoutMs: number;
  migrationRecheckIntervalMs: number;
  migrationRecheckTimeoutMs: number;
  migrationShutdownTimeoutMs: number;
  /** MiB/s, 0 = unlimited. */
  migrationBandwidthMibPerS: number;
}

export interface ControlPlaneContext {
  replicaId: string;
  address: string;
  log: ReplicatedLog;
  reader: StateReader;
  sessions: SessionRegistry;
  dispatcher: CommandDispatcher;
  primary: PrimaryTracker;
  duties: DutyGate;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  config(): ClusterConfig;
  /** How each host is fenced (DESIGN §5): vigild's YAML `fencing` section (manual by default). */
  fenceMethods: FenceMethods;
  /** How this replica dials another (leader forwarding); plaintext when absent (--insecure, the simulator). */
  peerCredentials?: ChannelCredentials;
}

export function clusterConfig(reader: StateReader): ClusterConfig {
  const values = reader.config();
  const seconds = (key: string) => Number(values.get(key)) * 1000;
  return {
    keepaliveIntervalMs: seconds("keepalive.interval"),
    savingThrows: Number(values.get("keepalive.savingThrows")),
    commandTimeoutMs: seconds("command.timeout"),
    connectivityThreshold: Number(values.get("fence.connectivityThreshold")),
    selfFenceMarginMs: seconds("fence.selfFenceMargin"),
    fenceRetryBackoffMs: seconds("fence.retryBackoff"),
    fenceRetryBackoffMaxMs: seconds("fence.retryBackoffMax"),
    haMaxConcurrentRestarts: Number(values.get("ha.maxConcurrentRestarts")),
    haRestartWindowMs: seconds("ha.restartWindow"),
    orphanedSkipTimeoutMs: seconds("vm.orphanedSkipTimeout"),
    jobUnknownTimeoutMs: seconds("job.unknownTimeout"),
    migrationTimeoutMs: seconds("migration.timeout"),
    migrationRecheckIntervalMs: seconds("migration.recheckInterval"),
    migrationRecheckTimeoutMs: seconds("migration.recheckTimeout"),
    migrationShutdownTimeoutMs: seconds("migration.shutdownTimeout"),
    migrationBandwidthMibPerS: Number(values.get("migration.bandwidth")),
  };
}
