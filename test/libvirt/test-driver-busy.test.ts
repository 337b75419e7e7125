// Proves that no lifecycle event is lost when the main thread is busy: domains start on worker threads while the main thread spins synchronously, and every started event arrives afterwards, in order per domain.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { LibvirtConnection } from "../../agent/libvirt/index.js";
import { testDriverDomainXml } from "./domain-xml.js";
import { EventRecorder, waitFor } from "./wait-for.js";

const domainCount = 40;
const busyMs = 300;

let connection: LibvirtConnection;
let recorder: EventRecorder;

before(async () => {
  connection = await LibvirtConnection.open("test:///default");
  recorder = new EventRecorder(connection);
});

after(async () => {
  await connection.close();
});

function spinSynchronously(durationMs: number): void {
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    // Deliberately blocks the main thread: events must queue, not vanish.
  }
}

test("delivers every event that libvirt emitted while the main thread was blocked", async () => {
  const uuids = Array.from({ length: domainCount }, () => randomUUID());
  for (const uuid of uuids) await connection.defineDomain(testDriverDomainXml(`busy-${uuid.slice(0, 8)}`, uuid));

  const starts = uuids.map((uuid) => connection.startDomain(uuid));
  spinSynchronously(busyMs);
  const destroys = (await Promise.all(starts)).map((domain) => connection.destroyDomain(domain.uuid));
  spinSynchronously(busyMs);
  await Promise.all(destroys);

  await waitFor(
    () => uuids.every((uuid) => recorder.lifecycleOf(uuid).length === 3),
    { timeoutMs: 5_000, what: `3 lifecycle events for each of ${domainCount} domains` },
  );
  for (const uuid of uuids) {
    assert.deepEqual(recorder.lifecycleOf(uuid), ["defined/added", "started/booted", "stopped/destroyed"]);
  }
  for (const uuid of uuids) await connection.undefineDomain(uuid);
});
