// Proves the chaos checks catch what they claim to: a VM alive on two hosts, two primaries or
// leaders in one term, replicas whose event logs diverge, an agent admitting an older term.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentsNeverShareAVm, agentTermsNeverGoBack, eventLogsAgree, neverRunningTwice, oneLeaderPerTerm, oneTakeoverPerTerm, type EventRow } from "./checks.js";

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
});
