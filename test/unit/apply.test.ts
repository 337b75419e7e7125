// Proves applying committed entries is deterministic and exactly-once per (host, seq), on a real SQLite file.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import { StateMachine } from "../../controlplane/state/apply.js";
import type { StateCommand } from "../../controlplane/state/commands.js";
import { openDatabase } from "../../controlplane/state/store.js";
import { temporaryDirectory } from "../support/processes.js";

const uuid = "11111111-2222-3333-4444-555555555555";

function domain(state: string, reason: string): DomainStatus__Output {
  return { name: "web1", uuid, state, reason, vcpus: 1, memoryBytes: 64 << 20, persistent: true };
}

function lifecycle(seq: number, state: string, reason: string): AgentEvent__Output {
  return { seq, atMs: 0, recovered: false, body: "lifecycle", lifecycle: { domain: domain(state, reason), event: "x", detail: reason } };
}

function harness() {
  const directory = temporaryDirectory("apply");
  const db = openDatabase({ path: `${directory.path}/state.db`, synchronous: "OFF" });
  const machine = new StateMachine(db);
  let index = 0;
  const apply = (command: StateCommand) =>
    db.transaction(() => {
      index += 1;
      const notices = machine.applyEntry(index, { atMs: 1_000 + index, term: 1, replicaId: "cp1", command });
      machine.setAppliedIndex(index);
      return notices;
    })();
  const hello = (hostId: string): StateCommand => ({ kind: "HostHello", hostId, bootId: "b", agentVersion: "t", migrationUri: "", cpus: 1, memoryBytes: 1 });
  return { db, machine, apply, hello, close: () => (db.close(), directory.remove()) };
}

describe("state machine apply", () => {
  it("applies an event once: a resent batch changes nothing", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    const batch: StateCommand = { kind: "AgentEvents", hostId: "h1", events: [lifecycle(1, "running", "booted"), lifecycle(2, "paused", "user")] };
    apply(batch);
    const eventsAfterFirst = machine.reader.listEvents({ limit: 100 }).length;
    const notices = apply(batch);
    assert.deepEqual(notices, [{ kind: "EventsApplied", hostId: "h1", appliedSeq: 2 }]);
    assert.equal(machine.reader.host("h1")?.appliedSeq, 2);
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "paused");
    assert.equal(machine.reader.listEvents({ limit: 100 }).length, eventsAfterFirst, "no event is recorded twice");
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(2, "running", "booted"), lifecycle(3, "shutoff", "destroyed")] });
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "shutoff", "only seq 3 applied");
    close();
  });

  it("applies an AgentEventBatches entry host by host, each once, with one EventsApplied notice per host", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    apply(hello("h2"));
    const other = (seq: number, state: string): AgentEvent__Output => ({ ...lifecycle(seq, state, "booted"), lifecycle: { domain: { ...domain(state, "booted"), name: "db1", uuid: "99999999-2222-3333-4444-555555555555" }, event: "x", detail: "" } });
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(1, "running", "booted")] });
    // h1 resends seq 1 beside its new seq 2; h2 sends its first two.
    const notices = apply({ kind: "AgentEventBatches", hosts: [{ hostId: "h1", events: [lifecycle(1, "running", "booted"), lifecycle(2, "paused", "user")] }, { hostId: "h2", events: [other(1, "running"), other(2, "shutoff")] }] });
    assert.deepEqual(notices.filter((notice) => notice.kind === "EventsApplied"), [
      { kind: "EventsApplied", hostId: "h1", appliedSeq: 2 },
      { kind: "EventsApplied", hostId: "h2", appliedSeq: 2 },
    ]);
    assert.deepEqual([machine.reader.host("h1")?.eventsApplied, machine.reader.host("h2")?.eventsApplied], [2, 2], "h1's resent seq 1 is not applied again");
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "paused");
    assert.equal(machine.reader.vmByUuid("99999999-2222-3333-4444-555555555555")?.state, "shutoff");
    close();
  });

  it("marks a VM found alive with no request as meant to run, and leaves a request alone", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(1, "shutoff", "destroyed")] });
    assert.equal(machine.reader.vmByUuid(uuid)?.desiredState, "", "found off: nothing on record");
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(2, "paused", "user")] });
    assert.equal(machine.reader.vmByUuid(uuid)?.desiredState, "running", "found alive (paused): meant to run");
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "stopped", commandId: "" });
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(3, "running", "unpaused")] });
    assert.deepEqual({ state: machine.reader.vmByUuid(uuid)?.state, desired: machine.reader.vmByUuid(uuid)?.desiredState }, { state: "running", desired: "stopped" }, "an operator's request stands");
    close();
  });

  it("does not let a defined-but-off copy on another host take ownership", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    apply(hello("h2"));
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(1, "running", "booted")] });
    apply({ kind: "AgentEvents", hostId: "h2", events: [lifecycle(1, "shutoff", "unknown")] });
    assert.equal(machine.reader.vmByUuid(uuid)?.host, "h1");
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "running");
    close();
  });

  it("marks VMs missing from a host's inventory", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    apply({ kind: "AgentEvents", hostId: "h1", events: [lifecycle(1, "running", "booted")] });
    apply({ kind: "AgentEvents", hostId: "h1", events: [{ seq: 2, atMs: 0, recovered: false, body: "inventory", inventory: { domains: [] } }] });
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "missing");
    close();
  });

  it("sees, within one entry, what the entry's earlier events changed (inventory, lifecycle, missing)", () => {
    const { machine, apply, hello, close } = harness();
    apply(hello("h1"));
    const inventory = (seq: number, domains: DomainStatus__Output[]): AgentEvent__Output => ({ seq, atMs: 0, recovered: false, body: "inventory", inventory: { domains } });
    // One entry: discover, pause, resume, drop from the inventory, report again; every step is a change.
    apply({
      kind: "AgentEvents",
      hostId: "h1",
      events: [lifecycle(1, "running", "booted"), lifecycle(2, "paused", "user"), inventory(3, []), lifecycle(4, "running", "unpaused"), lifecycle(5, "running", "unpaused"), inventory(6, [domain("paused", "user")])],
    });
    assert.equal(machine.reader.vmByUuid(uuid)?.state, "paused");
    const messages = machine.reader
      .listEvents({ limit: 100 })
      .filter((event) => event.kind === "vm")
      .map((event) => event.message);
    // In log order: seq 5 repeats seq 4 and records nothing.
    assert.deepEqual(messages, [
      "vm web1: discovered on h1, running (booted)",
      "vm web1: running => paused (user)",
      "vm web1: paused => missing (not in the host's inventory)",
      "vm web1: missing => running (unpaused)",
      "vm web1: running => paused (user)",
    ]);
    close();
  });

  it("stamps events with the proposer's time and term, never the applier's clock", () => {
    const { machine, apply, close } = harness();
    apply({ kind: "SetConfig", key: "keepalive.interval", value: "7" });
    const [event] = machine.reader.listEvents({ limit: 1 });
    assert.equal(event?.atMs, 1_001);
    assert.equal(event?.term, 1);
    assert.equal(machine.reader.config().get("keepalive.interval"), "7");
    close();
  });
});
