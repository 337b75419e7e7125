// Proves scenario job references (jobs.ts) name the job an operator means: `latest` is the newest
// (JobService lists newest first; ties keep that order), `latest-KIND` and `vm:NAME` narrow it, a
// flush's steps count, and a reference that names nothing says what the control plane lists.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveJob, type Job } from "./jobs.js";

function job(fields: Partial<Job>): Job {
  return { id: "", kind: "migrate", vm: "", host: "h1", target: "h2", state: "running", phase: "", error: "", processedBytes: 0, remainingBytes: 0, downtimeMs: 0, startedMs: 0, finishedMs: 0, deadlineMs: 0, steps: [], totalBytes: 0, forceLive: false, mode: "live", parent: "", originState: "running", updatedMs: 0, ...fields };
}

describe("job references", () => {
  const child = job({ id: "m3", vm: "db1", parent: "f2", startedMs: 30 });
  // Newest first, as JobService.List answers; u4 and f2 started in the same millisecond.
  const listed = [job({ id: "u4", kind: "unflush", vm: "", startedMs: 20 }), job({ id: "f2", kind: "flush", vm: "", startedMs: 20, steps: [child] }), job({ id: "m1", vm: "web1", startedMs: 10 })];

  it("resolves latest, latest-KIND, vm:NAME and ids, flush steps included", () => {
    const id = (ref: string) => {
      const found = resolveJob(listed, ref);
      return typeof found === "string" ? found : found.id;
    };
    assert.equal(id("latest"), "m3");
    assert.equal(id("latest-unflush"), "u4");
    assert.equal(id("latest-flush"), "f2");
    assert.equal(id("latest-migrate"), "m3");
    assert.equal(id("vm:web1"), "m1");
    assert.equal(id("f2"), "f2");
    assert.equal((resolveJob(listed.slice(0, 2).map((entry) => ({ ...entry, steps: [] })), "latest") as Job).id, "u4", "a tie keeps the list's newest-first order");
  });

  it("says what the control plane lists when a reference names nothing", () => {
    assert.equal(resolveJob([], "latest"), "no job matches latest (the control plane lists no jobs)");
    assert.match(resolveJob(listed, "vm:nope") as string, /no job matches vm:nope \(the control plane lists 4: u4 unflush, f2 flush, m3 migrate, m1 migrate\)/);
    assert.match(resolveJob(listed, "x9") as string, /no job x9/);
  });
});
