// Proves the replicated skip-trace set on a real SQLite file: entries owned by the issuing term, orphaned (stamped) when the primary changes, cleared by their result (continue-trace, orphans too) and expired only once orphaned; an HA restart moves ownership with its entry.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { stateMachineHarness } from "../support/state-machine.js";

const uuid = "11111111-2222-3333-4444-555555555555";
const domain = (state: string) => ({ name: "web1", uuid, state, reason: "booted", vcpus: 1, memoryBytes: 64 << 20, persistent: true });

function harness() {
  const { machine, apply, events, close } = stateMachineHarness("skip-trace");
  apply({ kind: "HostHello", hostId: "h1", bootId: "b", agentVersion: "t", migrationUri: "", cpus: 1, memoryBytes: 1 });
  apply({ kind: "HostHello", hostId: "h2", bootId: "b", agentVersion: "t", migrationUri: "", cpus: 1, memoryBytes: 1 });
  events("h1", { body: "inventory", inventory: { domains: [domain("shutoff")] } });
  const result = (hostId: string, commandId: string, outcome = "COMMAND_OUTCOME_SUCCEEDED") => {
    events(hostId, { body: "commandResult", commandResult: { commandId, term: 2, outcome: outcome as "COMMAND_OUTCOME_SUCCEEDED", error: outcome === "COMMAND_OUTCOME_SUCCEEDED" ? "" : "boom", domain: domain(outcome === "COMMAND_OUTCOME_SUCCEEDED" ? "running" : "shutoff"), domainAbsent: false } });
  };
  const entry = () => machine.reader.skipTraceOf(uuid);
  return { machine, apply, result, entry, close };
}

describe("skip-trace", () => {
  it("an operation's entry is owned by its term and leaves when its result arrives", () => {
    const { apply, result, entry, close } = harness();
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "running", commandId: "c1", operation: "start", host: "h1" }, 2);
    assert.deepEqual({ term: entry()?.term, operation: entry()?.operation, orphaned: entry()?.orphanedAtMs }, { term: 2, operation: "start", orphaned: null });
    result("h1", "other");
    assert.ok(entry() !== undefined, "another command's result does not end it");
    result("h1", "c1");
    assert.equal(entry(), undefined);
    close();
  });

  it("a new primary orphans the departed primary's entries with the takeover's time; the result still clears the orphan", () => {
    const { apply, result, entry, machine, close } = harness();
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "running", commandId: "c1", operation: "start", host: "h1" }, 2);
    apply({ kind: "PrimaryTakeover", term: 3, replicaId: "cp2" }, 3, 50_000);
    assert.equal(entry()?.orphanedAtMs, 50_000);
    result("h1", "c1");
    assert.equal(entry(), undefined);
    assert.ok(machine.reader.listEvents({ limit: 100 }).some((event) => /continue-trace \(start succeeded, orphan cleared\)/.test(event.message)));
    close();
  });

  it("expiry removes only orphaned entries", () => {
    const { apply, entry, close } = harness();
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "running", commandId: "c1", operation: "start", host: "h1" }, 2);
    apply({ kind: "SkipTraceExpire", vmUuids: [uuid], timeoutMs: 600_000 }, 2);
    assert.ok(entry() !== undefined, "a live entry does not expire");
    apply({ kind: "SkipTraceOrphan", vmUuid: uuid, commandId: "c1", reason: "no result in time" }, 2);
    assert.ok(entry()?.orphanedAtMs !== null);
    apply({ kind: "SkipTraceExpire", vmUuids: [uuid], timeoutMs: 600_000 }, 2);
    assert.equal(entry(), undefined);
    close();
  });

  it("an HA restart moves ownership and enters skip-trace in one entry; a failed start leaves the VM autorestart-pending", () => {
    const { apply, result, entry, machine, close } = harness();
    apply({ kind: "VmRestartPlanned", vmUuid: uuid, fromHost: "h1", toHost: "h2", commandId: "r1", reason: "host h1 fenced" }, 2);
    const vm = machine.reader.vmByUuid(uuid)!;
    assert.deepEqual({ host: vm.host, lastHost: vm.lastHost, haState: vm.haState, desired: vm.desiredState, restarts: vm.restartHistory.length }, { host: "h2", lastHost: "h1", haState: "restarting", desired: "running", restarts: 1 });
    assert.equal(entry()?.operation, "ha-restart");
    result("h2", "r1", "COMMAND_OUTCOME_FAILED");
    assert.equal(entry(), undefined);
    assert.deepEqual([machine.reader.vmByUuid(uuid)?.haState, machine.reader.vmByUuid(uuid)?.haReason], ["pending", "HA start on h2 failed: boom"]);
    close();
  });

  it("a confirmed fence of the operation's host ends its entry: the operation can no longer complete", () => {
    const { apply, entry, close } = harness();
    apply({ kind: "VmRestartPlanned", vmUuid: uuid, fromHost: "h1", toHost: "h2", commandId: "r1", reason: "host h1 fenced" }, 2);
    apply({ kind: "HostLiveness", hostId: "h1", liveness: "fenced", missedKeepalives: 9, reason: "other host" }, 2);
    assert.ok(entry() !== undefined, "a fence of another host changes nothing");
    apply({ kind: "HostLiveness", hostId: "h2", from: "alive", liveness: "fenced", missedKeepalives: 9, reason: "test" }, 2);
    assert.equal(entry(), undefined);
    close();
  });

  it("a liveness change applies only from the state it was decided on", () => {
    const { apply, machine, close } = harness();
    apply({ kind: "HostLiveness", hostId: "h1", liveness: "fenced", missedKeepalives: 9, reason: "operator" }, 2);
    apply({ kind: "HostLiveness", hostId: "h1", from: "fencing", liveness: "fence-failed", missedKeepalives: 9, reason: "late device result" }, 2);
    assert.equal(machine.reader.host("h1")?.liveness, "fenced");
    close();
  });

  it("a new state request replaces the entry, so the superseded command's result does not end it", () => {
    const { apply, result, entry, close } = harness();
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "stopped", commandId: "s1", operation: "shutdown", host: "h1" }, 2);
    apply({ kind: "VmRequested", vmUuid: uuid, desiredState: "running", commandId: "c2", operation: "start", host: "h1" }, 2);
    result("h1", "s1", "COMMAND_OUTCOME_FAILED");
    assert.equal(entry()?.commandId, "c2");
    close();
  });
});
