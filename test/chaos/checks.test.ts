// Proves the chaos checks catch what they claim to: a VM alive on two hosts, two primaries or
// leaders in one term, replicas whose event logs diverge, an agent admitting an older term, an
// acknowledged agent event lost or an event applied twice, a call or a convergence past its bound.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentsNeverShareAVm, agentTermsNeverGoBack, callsEndedWithinBounds, convergencesWithinBound, eventLogsAgree, eventsAppliedExactlyOnce, neverRunningTwice, oneLeaderPerTerm, oneTakeoverPerTerm, type EventRow } from "./checks.js";
import type { CallRecord } from "./history.js";

function row(logIndex: number, fields: Partial<EventRow>): EventRow {
  return { index: logIndex, logIndex, atMs: logIndex * 10, term: 2, kind: "vm", host: "", vm: "", job: "", message: "", ...fields };
}

describe("chaos checks", () => {
  it("finds a VM alive on a second host before it stopped on the first", () => {
    const rows = [
      row(1, { host: "h1", vm: "web", message: "vm web: discovered on h1, running (booted)" }),
      row(2, { host: "h2", vm: "web", message: "vm web: shutoff => running (booted)" }),
    ];
    assert.equal(neverRunningTwice(rows).length, 1);
    const moved = [rows[0]!, row(2, { host: "h1", vm: "web", message: "vm web: running => shutoff (destroyed)" }), { ...rows[1]!, logIndex: 3 }];
    assert.deepEqual(neverRunningTwice(moved), []);
  });

  it("reports every conflict event", () => {
    const conflict = row(5, { kind: "conflict", host: "h2", vm: "web", message: "vm web: reported running on h2, but it belongs to h1" });
    assert.match(neverRunningTwice([conflict])[0]!, /belongs to h1/);
  });

  it("finds two primaries in one term and two leaders in one term", () => {
    const takeovers = [row(1, { kind: "primary", message: "primary: replica cp1 takes over in term 4" }), row(2, { kind: "primary", message: "primary: replica cp2 takes over in term 4" })];
    assert.deepEqual(oneTakeoverPerTerm(takeovers), ["term 4 has two primaries: cp1 and cp2"]);
    assert.deepEqual(oneTakeoverPerTerm([takeovers[0]!, row(2, { kind: "primary", message: "primary: replica cp2 takes over in term 5" })]), []);
    const seen = [
      { replica: "cp1", term: 3, leader: "cp1", atMs: 1 },
      { replica: "cp3", term: 3, leader: "cp2", atMs: 2 },
    ];
    assert.equal(oneLeaderPerTerm(seen).length, 1);
    assert.deepEqual(oneLeaderPerTerm([seen[0]!, { ...seen[1]!, term: 4 }]), []);
  });

  it("accepts a replica's event log that is a prefix of another's and refuses a divergent one", () => {
    const base = [row(1, { message: "a" }), row(2, { message: "b" })];
    assert.deepEqual(eventLogsAgree(new Map([["cp1", base], ["cp2", base.slice(0, 1)]])), []);
    assert.equal(eventLogsAgree(new Map([["cp1", base], ["cp2", [base[0]!, row(2, { message: "other" })]]])).length, 1);
  });

  it("finds an agent that admitted a command of an older term", () => {
    assert.deepEqual(agentTermsNeverGoBack("h1", [{ commandId: "a", term: 3 }, { commandId: "b", term: 4 }, { commandId: "c", term: 4 }]), []);
    assert.deepEqual(agentTermsNeverGoBack("h1", [{ commandId: "a", term: 4 }, { commandId: "b", term: 3 }]), ["h1 executed command b of term 3 after one of term 4"]);
  });

  it("finds a VM two agents both saw alive, from their lifecycle log lines", () => {
    const line = (vm: string, state: string) => JSON.stringify({ level: 30, vm, state, msg: "domain lifecycle event" });
    const logs = new Map([
      ["h1", [`${line("web", "running")}\n`]],
      ["h2", [`${line("web", "running")}\n${line("db", "running")}\n`]],
    ]);
    assert.deepEqual(agentsNeverShareAVm(logs), ["vm web was seen alive by the agents of h1 and h2"]);
  });

  it("accepts events applied exactly once everywhere and finds acknowledged events lost on a replica", () => {
    const journal = { lastSeq: 40, highestAcked: 38 };
    const applied = (appliedSeq: number, eventsApplied = appliedSeq) => ({ appliedSeq, eventsApplied });
    assert.deepEqual(eventsAppliedExactlyOnce("h1", journal, [{ replica: "cp1", applied: applied(40) }, { replica: "cp2", applied: applied(40) }]), []);
    // cp2 lost 36..40 although the agent saw 38 acknowledged (a new leader without them, say).
    assert.deepEqual(eventsAppliedExactlyOnce("h1", journal, [{ replica: "cp1", applied: applied(40) }, { replica: "cp2", applied: applied(35) }]), [
      "cp2: h1 applied_seq 35 is below the acknowledged seq 38: acknowledged events are lost",
    ]);
    // Never acknowledged, but still missing once the outbox drained.
    assert.match(eventsAppliedExactlyOnce("h1", journal, [{ replica: "cp3", applied: applied(39) }])[0]!, /cp3: h1 applied_seq 39, but the drained agent journaled 40/);
    assert.match(eventsAppliedExactlyOnce("h1", journal, [{ replica: "cp3", applied: null }])[0]!, /cp3 never answered .* \(acknowledged up to 38\)/);
  });

  it("finds an acknowledgement beyond the journal, a replica ahead of it, and events lost or applied twice behind applied_seq", () => {
    assert.deepEqual(eventsAppliedExactlyOnce("h2", { lastSeq: 10, highestAcked: 12 }, []), ["h2: acknowledged seq 12 is beyond its journal's last seq 10"]);
    assert.match(eventsAppliedExactlyOnce("h2", { lastSeq: 10, highestAcked: 10 }, [{ replica: "cp1", applied: { appliedSeq: 11, eventsApplied: 11 } }])[0]!, /journaled only 10/);
    // applied_seq jumped over a gap: its events were not all applied.
    assert.deepEqual(eventsAppliedExactlyOnce("h2", { lastSeq: 10, highestAcked: 10 }, [{ replica: "cp1", applied: { appliedSeq: 10, eventsApplied: 8 } }]), [
      "cp1: h2 has 8 events applied for 10 sequence numbers (lost)",
    ]);
    assert.deepEqual(eventsAppliedExactlyOnce("h2", { lastSeq: 10, highestAcked: 10 }, [{ replica: "cp2", applied: { appliedSeq: 10, eventsApplied: 11 } }]), [
      "cp2: h2 has 11 events applied for 10 sequence numbers (applied twice)",
    ]);
  });

  it("finds a call that ended past its bound or never ended", () => {
    const call = (id: number, startMs: number, endMs: number | null): CallRecord => ({
      id, client: "reg1", kind: "config-set", via: "grpc", replica: "cp2", key: "k", value: "1", vm: "", startMs, endMs, boundMs: 10_000, outcome: endMs === null ? null : "ok", detail: "",
    });
    assert.deepEqual(callsEndedWithinBounds([call(1, 0, 9_000), call(2, 5_000, 15_000)]), []);
    assert.deepEqual(callsEndedWithinBounds([call(1, 0, 9_000), call(2, 5_000, 15_001), call(3, 0, null)]), [
      "call #2 reg1 config-set via grpc to cp2 took 10001 ms, bound 10000 ms",
      "call #3 reg1 config-set via grpc to cp2 never ended, bound 10000 ms",
    ]);
    const many = Array.from({ length: 25 }, (_, index) => call(index + 1, 0, null));
    const violations = callsEndedWithinBounds(many);
    assert.equal(violations.length, 21);
    assert.equal(violations.at(-1), "... and 5 more overdue calls");
  });

  it("finds a convergence that failed or took longer than its bound", () => {
    assert.deepEqual(convergencesWithinBound([{ what: "window 0", tookMs: 4_000 }, { what: "final convergence", tookMs: 90_000 }], 90_000), []);
    assert.deepEqual(convergencesWithinBound([{ what: "window 0", tookMs: 91_500 }, { what: "window 1 (timed out)", tookMs: null }], 90_000), [
      "window 0: converged after 91.5 s, bound 90 s",
      "window 1 (timed out): did not converge, bound 90 s",
    ]);
  });
});
