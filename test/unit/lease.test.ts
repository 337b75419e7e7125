// Proves the primary lease rules: no commands before the previous lease has run out, no fencing before the grace ends.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandsAllowed, fencingAllowed, primaryState } from "../../controlplane/primary/lease.js";

describe("primary lease", () => {
  const view = { takeoverAtMs: 1_000, previousLeaseWaitMs: 2_000, takeoverGraceMs: 30_000, relinquishing: false };
  it("holds commands until the previous primary's lease has certainly run out", () => {
    assert.equal(commandsAllowed(view, 2_999), false);
    assert.equal(commandsAllowed(view, 3_000), true);
  });
  it("stays in takeover, with fencing off, for the whole grace", () => {
    assert.equal(primaryState(view, 30_999), "takeover");
    assert.equal(fencingAllowed(view, 30_999), false);
    assert.equal(primaryState(view, 31_000), "primary");
    assert.equal(fencingAllowed(view, 31_000), true);
  });
  it("does nothing when not primary or relinquishing", () => {
    assert.equal(primaryState({ ...view, takeoverAtMs: null }, 99_999), "none");
    assert.equal(commandsAllowed({ ...view, relinquishing: true }, 99_999), false);
    assert.equal(primaryState({ ...view, relinquishing: true }, 99_999), "relinquish");
  });
});
