// Proves the disk chain sync on libvirt's test driver, a real journal and real files: storage that does not answer (a symlink loop: stat fails with ELOOP) leaves the sync pending, reported once and retried with backoff; once storage answers the live chain is reported and the request completes; a VM not defined here ends its request with a report that says so; a request journaled before a restart is resumed.
import assert from "node:assert/strict";
import { symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { DiskSync } from "../../agent/disk-sync.js";
import { fileImageStorage } from "../../agent/image-storage.js";
import { Journal } from "../../agent/journal.js";
import { LibvirtConnection } from "../../agent/libvirt/index.js";
import { seededRng, systemClock, systemTimers } from "../../common/env.js";
import { silentLogger } from "../../common/logging.js";
import { temporaryDirectory } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const uuid = "22222222-3333-4444-8555-666666666666";
const absent = "33333333-4444-4555-8666-777777777777";

describe("disk chain sync (test driver, real files)", () => {
  const directory = temporaryDirectory("disk-sync");
  const top = `${directory.path}/top.qcow2`;
  const base = `${directory.path}/base.qcow2`;
  const journalPath = `${directory.path}/journal.db`;
  let libvirt: LibvirtConnection;
  let journal: Journal;
  const syncs: DiskSync[] = [];

  const newSync = () => {
    const sync = new DiskSync({ hypervisor: libvirt, storage: fileImageStorage, journal, clock: systemClock, timers: systemTimers, rng: seededRng(7), logger: silentLogger(), onJournaled: () => undefined, attemptTimeoutMs: 5_000 });
    syncs.push(sync);
    return sync;
  };
  const reports = () => journal.pending(0, 1000).flatMap((event) => (event.body.diskChain ? [event.body.diskChain] : []));

  before(async () => {
    libvirt = await LibvirtConnection.open("test:///default");
    journal = new Journal(journalPath);
    writeFileSync(base, "base");
    symlinkSync(top, top); // stat() on it fails with ELOOP: storage that does not give an answer
    await libvirt.defineDomain(`<domain type='test'><name>sync1</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
      <os><type arch='x86_64'>hvm</type></os>
      <devices><disk type='file' device='disk'><source file='${top}'/>
        <backingStore type='file'><format type='qcow2'/><source file='${base}'/><backingStore/></backingStore>
        <target dev='vda' bus='virtio'/></disk></devices></domain>`);
    await libvirt.startDomain(uuid);
  });
  after(async () => {
    for (const sync of syncs) await sync.stop();
    journal.close();
    await libvirt.close();
    directory.remove();
  });

  it("stays pending, reported once, while storage does not answer, then reports the live chain", async () => {
    const sync = newSync();
    sync.request(uuid, "command");
    await waitFor(() => reports().length === 1 && sync.pending()[0]!.attempts >= 2, { timeoutMs: 10_000, what: "a pending report and a retry" });
    const [pending] = reports();
    assert.deepEqual([pending?.pending, pending?.disks], [true, []]);
    assert.match(pending?.error ?? "", /ELOOP/);
    assert.equal(sync.pending()[0]?.vmUuid, uuid);
    assert.equal(reports().length, 1, "retries are not reported again");
    assert.deepEqual(journal.pendingDiskSyncs().map((request) => request.vmUuid), [uuid]);

    unlinkSync(top);
    writeFileSync(top, "top");
    sync.request(uuid, "command"); // a new request tries at once instead of waiting out the backoff
    await waitFor(() => reports().length === 2, { timeoutMs: 10_000, what: "the synced report" });
    assert.deepEqual(reports()[1], { vmUuid: uuid, disks: [{ target: "vda", files: [top, base] }], pending: false, error: "", attempts: reports()[1]!.attempts });
    assert.deepEqual(sync.pending(), []);
    assert.deepEqual(journal.pendingDiskSyncs(), []);
    assert.deepEqual(journal.reportedDisks(uuid), [{ target: "vda", files: [top, base] }]);
  });

  it("ends the request of a VM this host does not define with a report that says so", async () => {
    const sync = newSync();
    const before = reports().length;
    sync.request(absent, "command");
    await waitFor(() => reports().length === before + 1, { timeoutMs: 10_000, what: "the report" });
    assert.deepEqual([reports().at(-1)?.pending, reports().at(-1)?.error], [false, "the domain is not defined on this host"]);
    assert.deepEqual(journal.pendingDiskSyncs(), []);
  });

  it("resumes a request journaled before a restart", async () => {
    journal.requestDiskSync(uuid, "job", systemClock.nowMs());
    const before = reports().length;
    newSync().start();
    await waitFor(() => reports().length === before + 1, { timeoutMs: 10_000, what: "the resumed sync's report" });
    assert.equal(reports().at(-1)?.pending, false);
    assert.deepEqual(journal.pendingDiskSyncs(), []);
  });
});
