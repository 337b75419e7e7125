// A replica's state machine on a real SQLite file, driven entry by entry as the log would: for unit
// tests of apply (skip-trace, migrations). Each apply is one entry in its own transaction.
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import type { StateCommand } from "../../controlplane/state/commands.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "./processes.js";

export type AgentEventBody = Omit<AgentEvent__Output, "seq" | "atMs" | "recovered">;

export interface StateMachineHarness {
  machine: StateMachine;
  /** Applies `command` as the next entry, proposed in `term` at `atMs` (default: 1 s per entry). */
  apply(command: StateCommand, term?: number, atMs?: number): void;
  /** One AgentEvents entry of `hostId` with the next sequence numbers. */
  events(hostId: string, ...bodies: AgentEventBody[]): void;
  close(): void;
}

export function stateMachineHarness(name: string): StateMachineHarness {
  const directory = temporaryDirectory(name);
  const db = openDatabase({ path: `${directory.path}/state.db`, synchronous: "OFF" });
  const machine = new StateMachine(db);
  let index = 0;
  const apply = (command: StateCommand, term = 2, atMs = 1_000 * (index + 1)) =>
    db.transaction(() => {
      index += 1;
      machine.applyEntry(index, { atMs, term, replicaId: "cp1", command });
      machine.setAppliedIndex(index);
    })();
  let seq = 0;
  const events = (hostId: string, ...bodies: AgentEventBody[]) =>
    apply({ kind: "AgentEvents", hostId, events: bodies.map((body) => ({ seq: ++seq, atMs: 0, recovered: false, ...body }) as AgentEvent__Output) });
  return { machine, apply, events, close: () => (db.close(), directory.remove()) };
}
