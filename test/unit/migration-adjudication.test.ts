// Proves the adjudication rules of a migration whose call did not prove its outcome (DESIGN §8):
// success only with the destination alive and the source confirmed not alive; rollback when the
// destination is not alive; rechecks, bounded, while both run it or an agent does not answer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { adjudicate, type AdjudicationInput, type HostReport } from "../../controlplane/primary/migration-adjudication.js";

const running: HostReport = { known: true, state: "running", reason: "migrated" };
const paused: HostReport = { known: true, state: "paused", reason: "migration" };
const shutoff: HostReport = { known: true, state: "shutoff", reason: "migrated" };
const unreachable: HostReport = { known: false, why: "host h1 is not connected" };

function input(source: HostReport, destination: HostReport, overrides: Partial<AdjudicationInput> = {}): AdjudicationInput {
  return { source, destination, originWasPaused: false, trigger: "call timed out", startedAtMs: 1_000, nowMs: 1_000, recheckIntervalMs: 10_000, recheckTimeoutMs: 300_000, ...overrides };
}

describe("migration adjudication", () => {
  it("takes a running destination and a stopped source as success", () => {
    assert.equal(adjudicate(input(shutoff, running)).kind, "succeeded");
  });

  it("rolls back when the destination does not run the VM, whatever the source says", () => {
    for (const source of [running, shutoff, unreachable]) assert.equal(adjudicate(input(source, shutoff)).kind, "rolled-back");
  });

  it("counts a paused landing as alive only for a VM that was paused before it left", () => {
    assert.equal(adjudicate(input(shutoff, paused, { originWasPaused: true })).kind, "succeeded");
    assert.equal(adjudicate(input(shutoff, { known: true, state: "paused", reason: "user" }, { originWasPaused: false })).kind, "rolled-back");
  });

  it("a destination held paused for an incoming migration proves nothing yet: it rechecks, then rolls back at the bound", () => {
    assert.equal(adjudicate(input(running, paused, { originWasPaused: false })).kind, "recheck");
    assert.equal(adjudicate(input(shutoff, paused, { originWasPaused: false })).kind, "recheck");
    const late = adjudicate(input(running, paused, { originWasPaused: false, nowMs: 1_000_000 }));
    assert.equal(late.kind, "rolled-back");
    assert.match(late.detail, /no proof of its outcome/);
  });

  it("never takes an unreachable agent's silence as success: it rechecks", () => {
    const verdict = adjudicate(input(unreachable, running));
    assert.equal(verdict.kind, "recheck");
    assert.equal(adjudicate(input(shutoff, unreachable)).kind, "recheck");
  });

  it("rechecks every interval while both hosts run the VM, and says how long is left", () => {
    const verdict = adjudicate(input(running, running, { nowMs: 41_000 }));
    assert.deepEqual([verdict.kind, verdict.kind === "recheck" ? [verdict.atMs, verdict.remainingMs] : null], ["recheck", [51_000, 260_000]]);
  });

  it("never schedules a recheck past the timeout", () => {
    const verdict = adjudicate(input(running, running, { nowMs: 296_000 }));
    assert.equal(verdict.kind === "recheck" ? verdict.atMs : -1, 301_000);
  });

  it("rolls back at the timeout, saying the VM may still be migrating", () => {
    const verdict = adjudicate(input(running, running, { nowMs: 301_000 }));
    assert.equal(verdict.kind, "rolled-back");
    assert.match(verdict.detail, /may still be migrating/);
  });

  it("ends an unanswered adjudication at the timeout as a rollback that names the missing proof", () => {
    const verdict = adjudicate(input(unreachable, running, { nowMs: 301_000 }));
    assert.equal(verdict.kind, "rolled-back");
    assert.match(verdict.detail, /no proof of its outcome/);
  });

  it("settles as soon as the source goes during the rechecks", () => {
    assert.equal(adjudicate(input(running, running, { nowMs: 11_000 })).kind, "recheck");
    assert.equal(adjudicate(input(shutoff, running, { nowMs: 21_000 })).kind, "succeeded");
  });
});
