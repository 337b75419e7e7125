// Proves the register checker accepts linearizable histories (also with indeterminate operations)
// and refutes known non-linearizable ones, naming the operation no order can get past.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkRegisterHistory, describeVerdicts, relevantOperations, type HistoryOperation } from "./linearizability.js";

let nextId = 1;
function write(client: string, value: string, callMs: number, returnMs: number | null, key = "k"): HistoryOperation {
  return { id: nextId++, client, key, operation: { kind: "write", value }, callMs, returnMs };
}
function read(client: string, value: string, callMs: number, returnMs: number | null, key = "k"): HistoryOperation {
  return { id: nextId++, client, key, operation: { kind: "read", value }, callMs, returnMs };
}
const initialValue = () => "0";

function verdictOf(history: HistoryOperation[]) {
  const verdicts = checkRegisterHistory(history, { initialValue });
  return { linearizable: verdicts.every((verdict) => verdict.linearizable), verdicts };
}

describe("register linearizability checker", () => {
  it("accepts sequential writes and reads", () => {
    const history = [write("a", "1", 0, 10), read("b", "1", 11, 20), write("a", "2", 21, 30), read("b", "2", 31, 40)];
    assert.equal(verdictOf(history).linearizable, true);
  });

  it("accepts a read concurrent with a write returning either value", () => {
    const oldValue = [write("a", "1", 0, 100), read("b", "0", 10, 20), read("c", "1", 30, 40), read("b", "1", 101, 110)];
    assert.equal(verdictOf(oldValue).linearizable, true);
  });

  it("refutes a stale read after a write completed, naming the stale read", () => {
    const stale = read("b", "0", 20, 30);
    const history = [write("a", "1", 0, 10), stale];
    const { linearizable, verdicts } = verdictOf(history);
    assert.equal(linearizable, false);
    assert.equal(verdicts[0]!.undecided, false);
    assert.equal(verdicts[0]!.stuckAt?.id, stale.id);
    assert.match(describeVerdicts(verdicts, history, 0), new RegExp(`no order gets past #${stale.id} b read\\(0\\)`));
  });

  it("refutes two readers seeing concurrent writes in opposite orders", () => {
    // Both writes overlap each other, but reader b sees 1 then 2 while reader c sees 2 then 1.
    const history = [
      write("w1", "1", 0, 50),
      write("w2", "2", 0, 50),
      read("b", "1", 60, 70),
      read("b", "2", 71, 80),
      read("c", "2", 60, 70),
      read("c", "1", 71, 80),
    ];
    assert.equal(verdictOf(history).linearizable, false);
  });

  it("refutes a value that was never written", () => {
    assert.equal(verdictOf([write("a", "1", 0, 10), read("b", "7", 20, 30)]).linearizable, false);
  });

  it("accepts an indeterminate write observed long after its call", () => {
    // The write timed out at the client, but took effect later: a later read may see it.
    const history = [write("a", "1", 0, null), read("b", "0", 100, 110), read("b", "1", 500, 510), read("c", "1", 600, 610)];
    assert.equal(verdictOf(history).linearizable, true);
  });

  it("accepts an indeterminate write that never took effect", () => {
    const history = [write("a", "1", 0, null), read("b", "0", 100, 110), write("c", "2", 200, 210), read("b", "2", 300, 310)];
    assert.equal(verdictOf(history).linearizable, true);
    assert.equal(relevantOperations(history).length, 3, "the unobserved indeterminate write is dropped");
  });

  it("refutes an indeterminate write observed before it was called", () => {
    const history = [read("b", "1", 0, 10), write("a", "1", 20, null)];
    assert.equal(verdictOf(history).linearizable, false);
  });

  it("refutes an indeterminate write that flips back after a later write was read", () => {
    // 1 (indeterminate) becomes visible, then 2 completes and is read, then 1 is read again:
    // a write takes effect once, so the second sighting of 1 is impossible.
    const history = [
      write("a", "1", 0, null),
      read("b", "1", 10, 20),
      write("c", "2", 30, 40),
      read("b", "2", 50, 60),
      read("b", "1", 70, 80),
    ];
    assert.equal(verdictOf(history).linearizable, false);
  });

  it("checks keys independently", () => {
    const history = [write("a", "1", 0, 10, "x"), read("b", "0", 20, 30, "y"), read("b", "1", 20, 30, "x")];
    const { linearizable, verdicts } = verdictOf(history);
    assert.equal(linearizable, true);
    assert.deepEqual(verdicts.map((verdict) => verdict.key), ["x", "y"]);
  });

  it("treats equal timestamps as concurrent", () => {
    // The read is called the same millisecond the write returns: either order is possible.
    assert.equal(verdictOf([write("a", "1", 0, 10), read("b", "0", 10, 20)]).linearizable, true);
  });

  it("stays fast on a long history with many concurrent clients and timeouts", () => {
    const history: HistoryOperation[] = [];
    let value = 0;
    let current = "0";
    for (let round = 0; round < 2_000; round++) {
      const start = round * 10;
      value += 1;
      const written = String(value);
      // Five clients overlap in each round: a write, three reads and an indeterminate write nobody sees.
      history.push(write("w", written, start, start + 8));
      history.push(read("r1", current, start, start + 3));
      history.push(read("r2", written, start + 9, start + 12));
      history.push(read("r3", written, start + 9, start + 11));
      history.push(write("lost", `lost-${round}`, start + 1, null));
      current = written;
    }
    const [verdict] = checkRegisterHistory(history, { initialValue });
    assert.equal(verdict!.linearizable, true);
    assert.ok(verdict!.steps < 200_000, `took ${verdict!.steps} steps`);
  });

  it("reports undecided when the search bound is reached", () => {
    const history = [write("a", "1", 0, 10), read("b", "1", 11, 20)];
    const [verdict] = checkRegisterHistory(history, { initialValue, stepsMax: 1 });
    assert.equal(verdict!.undecided, true);
    assert.match(describeVerdicts([verdict!], history, 0), /undecided/);
  });
});
