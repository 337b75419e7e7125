// Everything a control-plane service needs, assembled once in main.ts.
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Clock, Timers } from "../common/env.js";
import type { Logger } from "../common/logging.js";
import type { CommandDispatcher } from "./primary/dispatcher.js";
import type { DutyGate } from "./primary/duty-gate.js";
import type { PrimaryTracker } from "./primary/primary-tracker.js";
import type { SessionRegistry } from "./primary/sessions.js";
import type { ReplicatedLog } from "./replication/log.js";
import type { StateReader } from "./state/store.js";

export interface ClusterConfig {
  keepaliveIntervalMs: number;
  savingThrows: number;
  commandTimeoutMs: number;
  jobUnknownTimeoutMs: number;
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
    jobUnknownTimeoutMs: seconds("job.unknownTimeout"),
  };
}
