// Proves the loop the migration and flush duties run on (DutyTicker): one step per interval, never
// two at once (a slow step delays the next), nothing after stop, and a step in flight when the
// duty stops learns it is stale.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Timers } from "../../common/env.js";
import { DutyTicker } from "../../controlplane/primary/duty-ticker.js";

/** Timers driven by hand: `advance` fires what is due, in order. */
function manualTimers() {
  let now = 0;
  let queue: { at: number; callback: () => void; canceled: boolean }[] = [];
  const timers: Timers = {
    after(delayMs, callback) {
      const entry = { at: now + delayMs, callback, canceled: false };
      queue.push(entry);
      return () => (entry.canceled = true);
    },
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      queue = queue.filter((entry) => !entry.canceled).sort((a, b) => a.at - b.at);
      const next = queue[0];
      if (next === undefined || next.at > end) break;
      queue.shift();
      now = next.at;
      next.callback();
      await new Promise((resolve) => setImmediate(resolve));
    }
    now = end;
  };
  return { timers, advance };
}

describe("duty ticker", () => {
  it("steps once per interval while started, and not after stop", async () => {
    const { timers, advance } = manualTimers();
    let steps = 0;
    const ticker = new DutyTicker(timers, 500, async () => void (steps += 1), (error) => assert.fail(String(error)));
    ticker.start();
    await advance(1_600);
    assert.equal(steps, 3);
    ticker.stop();
    await advance(5_000);
    assert.equal(steps, 3);
  });

  it("never runs two steps at once; a step in flight at stop sees it is stale; errors go to the handler and the loop goes on", async () => {
    const { timers, advance } = manualTimers();
    let running = 0;
    let overlapped = false;
    let release: (() => void) | null = null;
    let staleSeen: boolean | null = null;
    const errors: string[] = [];
    let calls = 0;
    const ticker = new DutyTicker(
      timers,
      500,
      async (isCurrent) => {
        calls += 1;
        if (calls === 1) throw new Error("boom");
        running += 1;
        overlapped ||= running > 1;
        await new Promise<void>((resolve) => (release = resolve));
        staleSeen = !isCurrent();
        running -= 1;
      },
      (error) => errors.push((error as Error).message),
    );
    ticker.start();
    await advance(1_000);
    assert.deepEqual(errors, ["boom"]);
    assert.equal(calls, 2);
    await advance(3_000);
    assert.equal(calls, 2, "the slow step blocks the next");
    ticker.stop();
    (release as unknown as () => void)();
    await advance(0);
    assert.equal(staleSeen, true);
    assert.equal(overlapped, false);
  });
});
