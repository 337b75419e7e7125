// Proves the binding against two real libvirtd + QEMU (TCG) daemons of scripts/lab: lifecycle with events (reset => reboot), live peer-to-peer migration both ways with job stats, iterations, destination XML and events on both sides, abortJob of a running migration, same-host refusal, block jobs (bandwidth-limited commit observed then aborted, active commit with pivot, copy, pull) with block-job events, keepalive noticing a stopped daemon, and reconnect after a libvirtd restart. One file, run in order, because the restart would disturb concurrent tests.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { LibvirtConnection, LibvirtError, type ConnectionChange, type DomainEvent, type JobStats } from "../../agent/libvirt/index.js";
import { qemuDomainXml } from "./domain-xml.js";
import { diskChain } from "../../agent/domain-disks.js";
import { createQcow2Chain, holdLabTestsLock, labDaemonPid, locateLab, removeDomain, restartLabDaemon, type LabEnvironment } from "./lab.js";
import { EventRecorder, isLifecycle, waitFor } from "./wait-for.js";

const lookup = locateLab();
const domainNamePrefix = "vigil-lab-";
const eventTimeoutMs = 15_000;
const migrationTimeoutMs = 60_000;
const reconnectTimeoutMs = 60_000;
/** keepalive 1 s × (count 1 + 1), plus scheduling slack. */
const keepAliveTimeoutMs = 15_000;

function isBlockJob(uuid: string, status: string, jobType?: string): (event: DomainEvent) => boolean {
  return (event) =>
    event.kind === "block-job" &&
    event.uuid === uuid &&
    event.status === status &&
    (jobType === undefined || event.jobType === jobType);
}

/** The active image of vda, read with the agent's own XML parser. */
function diskSource(xml: string): string | undefined {
  return diskChain(xml, "vda")?.files[0];
}

describe("libvirt binding on real libvirtd + QEMU (scripts/lab)", { skip: lookup.skipReason ?? false }, () => {
  const lab = lookup.lab as LabEnvironment;
  let host1: LibvirtConnection;
  let host2: LibvirtConnection;
  let events1: EventRecorder;
  let events2: EventRecorder;
  const created: string[] = [];
  let releaseLab: (() => Promise<void>) | undefined;

  function newDomain(options: { diskPath?: string } = {}): { name: string; uuid: string; xml: string } {
    const uuid = randomUUID();
    const name = `${domainNamePrefix}${uuid.slice(0, 8)}`;
    created.push(uuid);
    return { name, uuid, xml: qemuDomainXml({ name, uuid, ...options }) };
  }

  before(async () => {
    releaseLab = await holdLabTestsLock();
    host1 = await LibvirtConnection.open(lab.host1Uri);
    host2 = await LibvirtConnection.open(lab.host2Uri);
    events1 = new EventRecorder(host1);
    events2 = new EventRecorder(host2);
    // Leftovers of an interrupted earlier run (we hold the lab's lock, so none are in use).
    for (const connection of [host1, host2]) {
      for (const domain of await connection.listDomains()) {
        if (domain.name.startsWith(domainNamePrefix)) await removeDomain(connection, domain.uuid);
      }
    }
  });

  after(async () => {
    for (const uuid of created) {
      for (const connection of [host1, host2]) {
        if (connection?.isAlive()) await removeDomain(connection, uuid);
      }
    }
    await host1?.close();
    await host2?.close();
    await releaseLab?.();
  });

  test("starts, suspends, resumes and destroys a 64 MiB TCG domain, with lifecycle events and reasons", async () => {
    const { uuid, xml } = newDomain();
    await host1.defineDomain(xml);

    const started = await host1.startDomain(uuid);
    assert.deepEqual([started.state, started.reason, started.memoryBytes], ["running", "booted", 64 * 1024 * 1024]);
    await events1.waitForEvent(isLifecycle(uuid, "started", "booted"), { timeoutMs: eventTimeoutMs, what: "started/booted" });

    assert.deepEqual(
      [(await host1.suspendDomain(uuid)).state, (await host1.getDomainState(uuid)).reason],
      ["paused", "user"],
    );
    await events1.waitForEvent(isLifecycle(uuid, "suspended", "paused"), { timeoutMs: eventTimeoutMs, what: "suspended/paused" });

    assert.deepEqual((await host1.resumeDomain(uuid)).state, "running");
    await events1.waitForEvent(isLifecycle(uuid, "resumed", "unpaused"), { timeoutMs: eventTimeoutMs, what: "resumed/unpaused" });

    await host1.resetDomain(uuid);
    await events1.waitForEvent((event) => event.kind === "reboot" && event.uuid === uuid, { timeoutMs: eventTimeoutMs, what: "reboot" });

    const destroyed = await host1.destroyDomain(uuid);
    assert.deepEqual([destroyed.state, destroyed.reason], ["shutoff", "destroyed"]);
    await events1.waitForEvent(isLifecycle(uuid, "stopped", "destroyed"), { timeoutMs: eventTimeoutMs, what: "stopped/destroyed" });

    const host = await host1.getHostInfo();
    assert.ok(host.cpus >= 1 && host.memoryBytes > 0 && host.freeMemoryBytes > 0);
    await host1.undefineDomain(uuid);
    assert.equal(await host1.lookupDomain(uuid), null);
  });

  test("migrates live peer-to-peer from host 1 to host 2 and back, with job stats and events on both sides", async () => {
    const { uuid, xml } = newDomain();
    await host1.defineDomain(xml);
    await host1.startDomain(uuid);

    const statsSeen: JobStats[] = [];
    const outbound = host1.migrateDomain(uuid, {
      destinationUri: lab.host2Uri,
      migrationUri: lab.migrationUri,
      persistOnDestination: true,
      undefineSource: true,
      unsafe: true,
      // Slow enough that the test reads the job's statistics while it runs.
      bandwidthMiBPerSecond: 1,
    });
    let outboundDone = false;
    void outbound.then(() => (outboundDone = true), () => (outboundDone = true));
    await waitFor(
      async () => {
        const stats = await host1.getJobStats(uuid).catch(() => null);
        if (stats !== null && stats.type === "unbounded") statsSeen.push(stats);
        // The first samples may come from the setup phase, before any data moved.
        return statsSeen.some((sample) => (sample.dataTotalBytes ?? 0) > 0) || outboundDone;
      },
      { timeoutMs: migrationTimeoutMs, what: "job stats of the running migration", intervalMs: 50 },
    );
    await outbound;

    const running = statsSeen.find((sample) => (sample.dataTotalBytes ?? 0) > 0);
    assert.ok(running, `job stats with data were read while the migration ran (${statsSeen.length} samples)`);
    assert.equal(running.operation, "migration_out");
    assert.ok((running.dataTotalBytes ?? 0) > 0);
    assert.ok(running.progress !== null && running.progress >= 0 && running.progress <= 1);
    assert.ok(running.elapsedMs !== null);

    await events1.waitForEvent(isLifecycle(uuid, "stopped", "migrated"), { timeoutMs: eventTimeoutMs, what: "source stopped/migrated" });
    await events1.waitForEvent((event) => event.kind === "job-completed" && event.uuid === uuid, {
      timeoutMs: eventTimeoutMs,
      what: "source job-completed",
    });
    await events2.waitForEvent(isLifecycle(uuid, "started", "migrated"), { timeoutMs: eventTimeoutMs, what: "destination started/migrated" });
    await events2.waitForEvent(isLifecycle(uuid, "resumed", "migrated"), { timeoutMs: eventTimeoutMs, what: "destination resumed/migrated" });
    const completed = events1.events.find((event) => event.kind === "job-completed" && event.uuid === uuid);
    assert.ok(completed?.kind === "job-completed");
    assert.equal(completed.stats.type, "completed");
    assert.ok(completed.stats.downtimeMs !== null && completed.stats.downtimeMs >= 0);

    assert.ok(
      events1.events.some((event) => event.kind === "migration-iteration" && event.uuid === uuid && event.iteration >= 1),
      "the source reported migration iterations",
    );
    const arrived = await host2.lookupDomain(uuid);
    assert.deepEqual([arrived?.state, arrived?.reason, arrived?.persistent], ["running", "migrated", true]);
    assert.equal(await host1.lookupDomain(uuid), null, "undefineSource removed the definition on host 1");

    // Back, with a destination XML that differs only in its title (allowed: no guest ABI change).
    const destinationXml = (await host2.getDomainXml(uuid, { migratable: true })).replace(
      "</name>",
      "</name>\n  <title>came back</title>",
    );
    await host2.migrateDomain(uuid, {
      destinationUri: lab.host1Uri,
      migrationUri: lab.migrationUri,
      persistOnDestination: true,
      undefineSource: true,
      unsafe: true,
      destinationXml,
    });
    await events2.waitForEvent(isLifecycle(uuid, "stopped", "migrated"), { timeoutMs: eventTimeoutMs, what: "host 2 stopped/migrated" });
    await events1.waitForEvent(isLifecycle(uuid, "resumed", "migrated"), { timeoutMs: eventTimeoutMs, what: "host 1 resumed/migrated" });
    assert.deepEqual(await host1.getDomainState(uuid), { state: "running", reason: "migrated" });
    assert.match(await host1.getDomainXml(uuid), /<title>came back<\/title>/);
    assert.equal(await host2.lookupDomain(uuid), null);
    await removeDomain(host1, uuid);
  });

  // libvirt 9.0 sometimes never finishes the source side of an aborted peer-to-peer migration when
  // the destination QEMU exits first (seen in a CI rehearsal: the source job stayed "Outgoing
  // migration" for over 9 minutes and virDomainMigrateToURI3 never returned). An uncancellable
  // native call would hang the whole run, so this runs only when asked for.
  test("aborts a running migration: the call fails with VIR_ERR_OPERATION_ABORTED and the guest keeps running on the source", {
    skip: process.env.VIGIL_LAB_MIGRATION_ABORT === "1" ? false : "libvirt 9.0 can hang the source side of an aborted p2p migration; run with VIGIL_LAB_MIGRATION_ABORT=1",
  }, async () => {
    const { uuid, xml } = newDomain();
    await host1.defineDomain(xml);
    await host1.startDomain(uuid);
    const migration = host1.migrateDomain(uuid, {
      destinationUri: lab.host2Uri,
      migrationUri: lab.migrationUri,
      unsafe: true,
      bandwidthMiBPerSecond: 1,
    });
    const outcome = migration.then(() => null, (error: unknown) => error);
    await waitFor(
      async () => {
        const stats = await host1.getJobStats(uuid).catch(() => null);
        return stats !== null && stats.type === "unbounded" && (stats.dataProcessedBytes ?? 0) > 0;
      },
      { timeoutMs: migrationTimeoutMs, what: "the migration moving data", intervalMs: 50 },
    );
    await host1.abortJob(uuid);
    const error = await outcome;
    assert.ok(error instanceof LibvirtError, `the migration must fail after abortJob, got ${String(error)}`);
    assert.equal(error.codeName, "VIR_ERR_OPERATION_ABORTED");
    assert.equal((await host1.getDomainState(uuid)).state, "running");
    assert.equal(await host2.lookupDomain(uuid), null);
    await removeDomain(host1, uuid);
  });

  test("refuses a migration to the same host with libvirt's error", async () => {
    const { uuid, xml } = newDomain();
    await host1.defineDomain(xml);
    await host1.startDomain(uuid);
    await assert.rejects(
      host1.migrateDomain(uuid, { destinationUri: lab.host1Uri, migrationUri: lab.migrationUri, unsafe: true }),
      (error: unknown) => {
        assert.ok(error instanceof LibvirtError);
        assert.equal(error.operation, "virDomainMigrateToURI3");
        assert.match(error.libvirtMessage, /same host/);
        assert.equal(error.codeName, "VIR_ERR_INTERNAL_ERROR");
        return true;
      },
    );
    assert.equal((await host1.getDomainState(uuid)).state, "running");
    await removeDomain(host1, uuid);
  });

  test("observes a bandwidth-limited commit in progress, changes its bandwidth, aborts it, then commits the active layer with pivot", async () => {
    const directory = `${lab.imagesDirectory}/${randomUUID()}`;
    const chain = createQcow2Chain(directory, 24);
    const { uuid, xml } = newDomain({ diskPath: chain.top });
    try {
      await host1.defineDomain(xml);
      await host1.startDomain(uuid);

      await host1.blockCommit(uuid, "vda", { active: true, bandwidthBytesPerSecond: 1024 * 1024 });
      const inProgress = await waitFor(
        async () => {
          const info = await host1.getBlockJobInfo(uuid, "vda");
          return info !== null && info.end > 0 && info.current < info.end ? info : null;
        },
        { timeoutMs: eventTimeoutMs, what: "the throttled commit in progress", intervalMs: 50 },
      );
      assert.equal(inProgress.type, "active_commit");
      assert.equal(inProgress.bandwidthBytesPerSecond, 1024 * 1024);
      await host1.setBlockJobBandwidth(uuid, "vda", 2 * 1024 * 1024);
      assert.equal((await host1.getBlockJobInfo(uuid, "vda"))?.bandwidthBytesPerSecond, 2 * 1024 * 1024);
      await host1.abortBlockJob(uuid, "vda");
      await events1.waitForEvent(isBlockJob(uuid, "canceled", "active_commit"), { timeoutMs: eventTimeoutMs, what: "commit canceled" });
      assert.equal(await host1.getBlockJobInfo(uuid, "vda"), null);
      assert.equal(diskSource(await host1.getDomainXml(uuid)), chain.top);

      await host1.blockCommit(uuid, "vda", { active: true });
      await events1.waitForEvent(isBlockJob(uuid, "ready", "active_commit"), { timeoutMs: eventTimeoutMs, what: "commit ready" });
      await host1.abortBlockJob(uuid, "vda", { pivot: true });
      await events1.waitForEvent(isBlockJob(uuid, "completed", "active_commit"), { timeoutMs: eventTimeoutMs, what: "commit completed" });
      assert.equal(diskSource(await host1.getDomainXml(uuid)), chain.base);
    } finally {
      await removeDomain(host1, uuid);
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("copies a disk (pivot to the copy) and pulls a backing chain, with block-job events", async () => {
    const directory = `${lab.imagesDirectory}/${randomUUID()}`;
    const chain = createQcow2Chain(directory, 4);
    const { uuid, xml } = newDomain({ diskPath: chain.top });
    const copy = `${directory}/copy.qcow2`;
    try {
      await host1.defineDomain(xml);
      await host1.startDomain(uuid);

      await host1.blockPull(uuid, "vda");
      await events1.waitForEvent(isBlockJob(uuid, "completed", "pull"), { timeoutMs: eventTimeoutMs, what: "pull completed" });

      const destination = `<disk type='file'><driver type='qcow2'/><source file='${copy}'/></disk>`;
      await host1.blockCopy(uuid, "vda", destination, { transientJob: true, shallow: false });
      await events1.waitForEvent(isBlockJob(uuid, "ready", "copy"), { timeoutMs: eventTimeoutMs, what: "copy ready" });
      await host1.abortBlockJob(uuid, "vda", { pivot: true });
      await events1.waitForEvent(isBlockJob(uuid, "completed", "copy"), { timeoutMs: eventTimeoutMs, what: "copy completed" });
      assert.equal(diskSource(await host1.getDomainXml(uuid)), copy);
    } finally {
      await removeDomain(host1, uuid);
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test("notices a daemon that stopped answering through keepalive, then reconnects when it answers again", async () => {
    const watched = await LibvirtConnection.open(lab.host2Uri, { keepAliveIntervalSeconds: 1, keepAliveCount: 1 });
    const changes: string[] = [];
    watched.onConnectionChange((change, detail) => changes.push(`${change}:${detail.reason ?? detail.attempts}`));
    const daemonPid = labDaemonPid(lab, "host2");
    process.kill(daemonPid, "SIGSTOP");
    try {
      await waitFor(() => changes.length > 0, { timeoutMs: keepAliveTimeoutMs, what: "keepalive to declare the connection lost" });
      assert.equal(changes[0], "lost:keepalive");
      assert.equal(watched.isAlive(), false);
    } finally {
      process.kill(daemonPid, "SIGCONT");
    }
    await waitFor(() => changes.some((change) => change.startsWith("restored")), {
      timeoutMs: reconnectTimeoutMs,
      what: "the connection restored after SIGCONT",
    });
    assert.equal(watched.isAlive(), true);
    assert.ok((await watched.listDomains()).length >= 0);
    await watched.close();
  });

  test("reconnects after libvirtd restarts, reports lost and restored, and sees new events", async () => {
    const changes: ConnectionChange[] = [];
    const stopWatching = host1.onConnectionChange((change) => changes.push(change));
    try {
      const restartStarted = performance.now();
      restartLabDaemon("host1");
      const restartMs = performance.now() - restartStarted;
      assert.ok(restartMs < 15_000, `restart-daemon.sh took ${Math.round(restartMs)} ms`);
      await waitFor(() => changes.includes("restored"), { timeoutMs: reconnectTimeoutMs, what: "the connection restored" });
      assert.deepEqual(changes, ["lost", "restored"]);
      assert.equal(host1.isAlive(), true);

      const { uuid, xml } = newDomain();
      await host1.defineDomain(xml);
      await host1.startDomain(uuid);
      await events1.waitForEvent(isLifecycle(uuid, "started", "booted"), { timeoutMs: eventTimeoutMs, what: "started after reconnect" });
      assert.ok((await host1.listDomains()).some((domain) => domain.uuid === uuid));
      await removeDomain(host1, uuid);
    } finally {
      stopWatching();
    }
  });
});
