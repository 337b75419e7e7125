// Proves the simulated hypervisor migrates the way libvirt's peer-to-peer migration does (what the
// agent and the control plane will be tested against): the domain moves between SimHosts over
// simulated time with progress and a downtime, both sides emit libvirt's lifecycle events, the
// source keeps its definition, and the scripted faults, aborts, power losses, network cuts and
// refusals end where the fault semantics say (test/sim/README.md) — with the "no VM runs on two
// hosts" check watching every state change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LifecycleEvent } from "../../agent/hypervisor.js";
import { operationLatencyMs, SimHost, SimHypervisor, uuidOf, type HostObserver, type SimMigrationOptions } from "./hypervisor.js";
import { Checker } from "./invariants.js";
import { abortedMessage, afterLandingMessage, beforeLandingMessage, confirmDelayMs, keepaliveMessage, libvirtKeepaliveTimeoutMs, linkMiBPerSecond, switchOverDowntimeMs } from "./migration.js";
import { ProcessSlot, Scheduler } from "./scheduler.js";

interface Settled {
  ok: boolean;
  message: string;
  atMs: number;
}

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));
const memoryBytes = 2048 * 1024 * 1024;

/** Two hosts and an agent connection on each, with the checker watching every domain change. */
class Lab {
  readonly scheduler = new Scheduler();
  readonly hosts = new Map<string, SimHost>();
  readonly events: string[] = [];
  readonly checker = new Checker();
  /** Pairs of hosts that cannot reach each other. */
  readonly cut = new Set<string>();
  readonly agents = new Map<string, SimHypervisor>();

  constructor() {
    const observer: HostObserver = {
      domainChanged: () => this.checker.checkDomains([...this.hosts.values()]),
      operation: () => undefined,
      hostById: (id) => this.hosts.get(id),
      linked: (a, b) => !this.cut.has(a.hostId) && !this.cut.has(b.hostId),
    };
    for (const id of ["h1", "h2"]) {
      const libvirtd = new ProcessSlot(`${id}/libvirtd`);
      libvirtd.state = "running";
      libvirtd.incarnation = 1;
      const host = new SimHost(id, 16, 64 * 1024 ** 3, libvirtd, this.scheduler, observer);
      this.hosts.set(id, host);
      const agent = new ProcessSlot(id);
      agent.state = "running";
      agent.incarnation = 1;
      const hypervisor = new SimHypervisor(host, agent);
      hypervisor.onLifecycle((event: LifecycleEvent) => this.events.push(`${id} ${event.name} ${event.event}/${event.detail}`));
      this.agents.set(id, hypervisor);
    }
  }

  host(id: string): SimHost {
    return this.hosts.get(id)!;
  }

  define(hostId: string, name: string, state: "running" | "paused" | "shutoff"): void {
    this.host(hostId).define({ name, uuid: uuidOf(name), state, reason: state === "running" ? "booted" : state === "paused" ? "user" : "unknown", vcpus: 2, memoryBytes, persistent: true, disks: [] });
  }

  async runFor(durationMs: number): Promise<void> {
    const untilMs = this.scheduler.nowMs + durationMs;
    await flushMicrotasks();
    for (;;) {
      const event = this.scheduler.next(untilMs);
      if (event === null) break;
      event.run();
      await flushMicrotasks();
    }
    this.scheduler.nowMs = untilMs;
  }

  /** Runs the simulation until `promise` settles (a libvirt call answers in simulated time). */
  async settle<Result>(promise: Promise<Result>): Promise<Result> {
    let settled = false;
    const watched = promise.finally(() => (settled = true));
    watched.catch(() => undefined);
    for (let step = 0; step < 1_000 && !settled; step += 1) await this.runFor(10);
    assert.ok(settled, "the call answered within 10 s");
    return watched;
  }

  /** Starts a migration from h1 and records how it settles. */
  migrate(name: string, options: Partial<SimMigrationOptions> = {}): { settled: () => Settled | null } {
    let settled: Settled | null = null;
    this.agents
      .get("h1")!
      .migrateDomain(uuidOf(name), { destinationUri: "qemu+tls://h2/system", persistOnDestination: true, ...options })
      .then(
        () => (settled = { ok: true, message: "", atMs: this.scheduler.nowMs }),
        (error: Error) => (settled = { ok: false, message: error.message, atMs: this.scheduler.nowMs }),
      );
    return { settled: () => settled };
  }

  state(hostId: string, name: string): string {
    const domain = this.host(hostId).byNameOrUuid(name);
    return domain === undefined ? "undefined" : `${domain.state} (${domain.reason})${domain.persistent ? "" : " transient"}`;
  }
}

const transferMs = (mib: number) => Math.ceil((2048 / mib) * 10) * 100;

describe("SimHypervisor migration", () => {
  it("moves a running domain to the destination with progress, a downtime and libvirt's events on both sides", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(1_000);
    const outgoing = await lab.settle(lab.agents.get("h1")!.getJobStats(uuidOf("web1")));
    assert.equal(outgoing.operation, "migration_out");
    assert.equal(outgoing.dataTotalBytes, memoryBytes);
    assert.ok(outgoing.dataProcessedBytes! > 0 && outgoing.dataRemainingBytes! > 0, JSON.stringify(outgoing));
    assert.equal(outgoing.dataProcessedBytes! + outgoing.dataRemainingBytes!, memoryBytes);
    assert.equal((await lab.settle(lab.agents.get("h2")!.getJobStats(uuidOf("web1")))).operation, "migration_in");
    assert.equal(lab.state("h2", "web1"), "paused (migration) transient");
    assert.ok(call.settled() === null);
    await lab.runFor(5_000);
    assert.deepEqual(call.settled()?.ok, true, call.settled()?.message);
    // 2 GiB at the link's speed, then the switch-over's downtime and the confirm.
    assert.ok(call.settled()!.atMs >= transferMs(linkMiBPerSecond) + switchOverDowntimeMs + confirmDelayMs && call.settled()!.atMs < 2_500, `returned at ${call.settled()!.atMs} ms`);
    assert.equal(lab.state("h1", "web1"), "shutoff (migrated)", "the source keeps its definition, shut off");
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
    assert.deepEqual(lab.events, ["h2 web1 started/migrated", "h1 web1 suspended/migrated", "h2 web1 resumed/migrated", "h2 web1 defined/added", "h1 web1 stopped/migrated"]);
    assert.equal((await lab.settle(lab.agents.get("h1")!.getJobStats(uuidOf("web1")))).type, "none");
  });

  it("honours the bandwidth limit and lands a paused VM paused", async () => {
    const lab = new Lab();
    lab.define("h1", "db1", "paused");
    const call = lab.migrate("db1", { bandwidthMiBPerSecond: 256 });
    await lab.runFor(7_000);
    assert.ok(call.settled() === null, "2 GiB at 256 MiB/s takes 8 s");
    await lab.runFor(2_000);
    assert.equal(call.settled()?.ok, true, call.settled()?.message);
    assert.ok(call.settled()!.atMs >= transferMs(256), `returned at ${call.settled()!.atMs} ms`);
    assert.equal(lab.state("h2", "db1"), "paused (user)");
    assert.equal(lab.state("h1", "db1"), "shutoff (migrated)");
  });

  it("fails before landing: the call fails, the domain runs on the source, the destination has nothing", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.host("h1").faults.nextMigration = "before-landing";
    const call = lab.migrate("web1");
    await lab.runFor(5_000);
    assert.deepEqual({ ok: call.settled()?.ok, message: call.settled()?.message }, { ok: false, message: beforeLandingMessage });
    assert.equal(lab.state("h1", "web1"), "running (booted)");
    assert.equal(lab.state("h2", "web1"), "undefined");
    assert.equal(lab.host("h1").faults.nextMigration, null, "the fault is used once");
    assert.deepEqual(lab.events, ["h2 web1 started/migrated", "h2 web1 stopped/failed"]);
  });

  it("fails after landing: the call fails, yet the domain runs on the destination and is shut off on the source", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.define("h2", "web1", "shutoff");
    lab.host("h1").faults.nextMigration = "after-landing";
    const call = lab.migrate("web1");
    await lab.runFor(5_000);
    assert.deepEqual({ ok: call.settled()?.ok, message: call.settled()?.message }, { ok: false, message: afterLandingMessage });
    assert.equal(lab.state("h1", "web1"), "shutoff (migrated)");
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
    assert.ok(lab.events.includes("h2 web1 defined/updated"), "a destination that defined it is updated");
  });

  it("hangs until aborted: the call returns only then, the domain stays on the source", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.host("h1").faults.nextMigration = "hang";
    const call = lab.migrate("web1");
    await lab.runFor(120_000);
    assert.ok(call.settled() === null);
    const stats = await lab.settle(lab.agents.get("h1")!.getJobStats(uuidOf("web1")));
    assert.ok(stats.dataProcessedBytes! > memoryBytes && stats.dataRemainingBytes! > 0, "it never converges");
    await assert.rejects(lab.settle(lab.agents.get("h2")!.abortJob(uuidOf("web1"))), /cannot abort incoming migration/);
    await lab.settle(lab.agents.get("h1")!.abortJob(uuidOf("web1")));
    await lab.runFor(100);
    assert.deepEqual({ ok: call.settled()?.ok, message: call.settled()?.message }, { ok: false, message: abortedMessage });
    assert.equal(lab.state("h1", "web1"), "running (booted)");
    assert.equal(lab.state("h2", "web1"), "undefined");
    await assert.rejects(lab.settle(lab.agents.get("h1")!.abortJob(uuidOf("web1"))), /no job is active/);
  });

  it("refuses what libvirt refuses: the same host, an unknown or unavailable destination, a shut-off domain live, a second migration", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.define("h1", "db1", "shutoff");
    const same = lab.migrate("web1", { destinationUri: "qemu+tls://h1/system" });
    const unknown = lab.migrate("web1", { destinationUri: "qemu+tls://h9/system" });
    const stopped = lab.migrate("db1");
    await lab.runFor(100);
    assert.match(same.settled()!.message, /Attempt to migrate guest to the same host/);
    assert.match(unknown.settled()!.message, /h9:16514.*Name or service not known/);
    assert.match(stopped.settled()!.message, /domain is not running/);
    lab.host("h2").setLibvirtd(false);
    const refused = lab.migrate("web1");
    await lab.runFor(100);
    assert.match(refused.settled()!.message, /Connection refused/);
    lab.host("h2").setLibvirtd(true);
    const first = lab.migrate("web1");
    await lab.runFor(100);
    const second = lab.migrate("web1");
    await lab.runFor(100);
    assert.match(second.settled()!.message, /another migration job is already running/);
    await assert.rejects(lab.settle(lab.agents.get("h1")!.startDomain(uuidOf("web1"))), /cannot acquire state change lock|already running/);
    await lab.runFor(5_000);
    assert.equal(first.settled()?.ok, true);
  });

  it("copies only the definition of a shut-off domain offline", async () => {
    const lab = new Lab();
    lab.define("h1", "db1", "shutoff");
    lab.define("h1", "web1", "running");
    const call = lab.migrate("db1", { offline: true, live: false });
    const running = lab.migrate("web1", { offline: true, live: false });
    await lab.runFor(200);
    assert.equal(call.settled()?.ok, true, call.settled()?.message);
    assert.match(running.settled()!.message, /domain is active/);
    assert.equal(lab.state("h2", "db1"), "shutoff (unknown)");
    assert.equal(lab.state("h1", "db1"), "shutoff (unknown)");
    assert.deepEqual(lab.events, ["h2 db1 defined/added"]);
  });

  it("a source that loses power mid-transfer leaves the VM nowhere once the destination gives up on it", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(1_000);
    lab.host("h1").libvirtd.state = "dead";
    lab.host("h1").powerOff();
    await lab.runFor(libvirtKeepaliveTimeoutMs - 1_000);
    assert.equal(lab.state("h2", "web1"), "paused (migration) transient", "the incoming QEMU waits for its source");
    await lab.runFor(2_000);
    assert.equal(lab.state("h2", "web1"), "undefined");
    assert.equal(lab.state("h1", "web1"), "shutoff (destroyed)");
    assert.ok(call.settled() === null, "the source's agent died with its host");
  });

  it("a source that loses power between finish and confirm leaves the VM on the destination", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.migrate("web1");
    await lab.runFor(operationLatencyMs.migrate + transferMs(linkMiBPerSecond) + switchOverDowntimeMs + 1);
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
    assert.equal(lab.state("h1", "web1"), "paused (migration)", "both QEMUs exist: the source is the inactive side");
    lab.host("h1").libvirtd.state = "dead";
    lab.host("h1").powerOff();
    await lab.runFor(60_000);
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
  });

  it("a network cut stalls the transfer: healed in time it completes, otherwise it fails at libvirt's keepalive timeout", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.define("h1", "db1", "running");
    const healed = lab.migrate("web1");
    await lab.runFor(500);
    lab.cut.add("h2");
    await lab.runFor(10_000);
    assert.ok(healed.settled() === null);
    lab.cut.delete("h2");
    await lab.runFor(3_000);
    assert.equal(healed.settled()?.ok, true);
    const lost = lab.migrate("db1");
    await lab.runFor(500);
    lab.cut.add("h2");
    await lab.runFor(libvirtKeepaliveTimeoutMs + 1_000);
    assert.deepEqual({ ok: lost.settled()?.ok, message: lost.settled()?.message }, { ok: false, message: keepaliveMessage });
    assert.equal(lab.state("h1", "db1"), "running (booted)");
    assert.equal(lab.state("h2", "db1"), "undefined");
  });

  it("a destination that loses power fails the migration; the VM runs on at the source", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(1_000);
    lab.host("h2").libvirtd.state = "dead";
    lab.host("h2").powerOff();
    lab.cut.add("h2");
    await lab.runFor(libvirtKeepaliveTimeoutMs + 1_000);
    assert.equal(call.settled()?.message, keepaliveMessage);
    assert.equal(lab.state("h1", "web1"), "running (booted)");
    assert.equal(lab.state("h2", "web1"), "undefined");
  });

  it("a destination that reboots mid-transfer does not get the VM when its link returns", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(1_000);
    const h2 = lab.host("h2");
    h2.libvirtd.state = "dead";
    h2.powerOff();
    lab.cut.add("h2");
    await lab.runFor(5_000);
    h2.libvirtd.incarnation += 1;
    h2.libvirtd.state = "running";
    h2.powerOn();
    lab.cut.delete("h2");
    await lab.runFor(1_000);
    assert.equal(call.settled()?.message, beforeLandingMessage);
    assert.equal(lab.state("h1", "web1"), "running (booted)");
    assert.equal(lab.state("h2", "web1"), "undefined");
  });

  it("both ends losing power leave no migration behind", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    lab.migrate("web1");
    await lab.runFor(1_000);
    for (const id of ["h1", "h2"]) {
      lab.host(id).libvirtd.state = "dead";
      lab.host(id).powerOff();
    }
    assert.equal(lab.host("h2").migrationOf(uuidOf("web1")), undefined);
    assert.equal(lab.host("h1").migrationOf(uuidOf("web1")), undefined);
  });

  it("a dropped libvirt connection fails the call while libvirtd carries the migration on to its end", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(500);
    lab.host("h1").connectionChange("lost");
    await lab.runFor(10);
    assert.equal(call.settled()?.message, "End of file while reading data: Input/output error");
    assert.equal(lab.state("h1", "web1"), "running (booted)", "still migrating");
    await lab.runFor(3_000);
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
    assert.equal(lab.state("h1", "web1"), "shutoff (migrated)");
  });

  it("libvirtd stopping on the source fails the migration at once; the VM runs on there", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(500);
    lab.host("h1").setLibvirtd(false);
    await lab.runFor(10);
    assert.equal(call.settled()?.message, "internal error: client socket is closed");
    assert.equal(lab.state("h1", "web1"), "running (booted)");
    assert.equal(lab.state("h2", "web1"), "undefined");
  });

  it("an abort at the switch-over resumes the source; in the confirm window it is refused", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const first = lab.migrate("web1");
    await lab.runFor(operationLatencyMs.migrate + transferMs(linkMiBPerSecond) + 1);
    assert.equal(lab.state("h1", "web1"), "paused (migration)");
    lab.host("h1").migrationOf(uuidOf("web1"))!.abort();
    await lab.runFor(10);
    assert.equal(first.settled()?.message, abortedMessage);
    assert.equal(lab.state("h1", "web1"), "running (migration_canceled)");
    assert.equal(lab.state("h2", "web1"), "undefined");
    const second = lab.migrate("web1");
    await lab.runFor(operationLatencyMs.migrate + transferMs(linkMiBPerSecond) + switchOverDowntimeMs + 1);
    assert.throws(() => lab.host("h1").migrationOf(uuidOf("web1"))!.abort(), /can no longer be aborted/);
    await lab.runFor(100);
    assert.equal(second.settled()?.ok, true);
  });

  it("offline migrations honour the scripted faults", async () => {
    const lab = new Lab();
    lab.define("h1", "db1", "shutoff");
    lab.host("h1").faults.nextMigration = "before-landing";
    const before = lab.migrate("db1", { offline: true });
    await lab.runFor(100);
    assert.equal(before.settled()?.message, beforeLandingMessage);
    assert.equal(lab.state("h2", "db1"), "undefined");
    lab.host("h1").faults.nextMigration = "hang";
    const hung = lab.migrate("db1", { offline: true });
    await lab.runFor(60_000);
    assert.ok(hung.settled() === null);
    await lab.settle(lab.agents.get("h1")!.abortJob(uuidOf("db1")));
    await lab.runFor(10);
    assert.equal(hung.settled()?.message, abortedMessage);
    lab.host("h1").faults.nextMigration = "after-landing";
    const after = lab.migrate("db1", { offline: true });
    await lab.runFor(100);
    assert.equal(after.settled()?.message, afterLandingMessage);
    assert.equal(lab.state("h2", "db1"), "shutoff (unknown)");
  });

  it("a migration outlives the agent that started it: a new connection sees its progress", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(500);
    await lab.agents.get("h1")!.close();
    const slot = new ProcessSlot("h1-again");
    slot.state = "running";
    slot.incarnation = 1;
    const again = new SimHypervisor(lab.host("h1"), slot);
    const stats = await lab.settle(again.getJobStats(uuidOf("web1")));
    assert.equal(stats.operation, "migration_out");
    await lab.runFor(3_000);
    assert.ok(call.settled() === null, "the closed connection hears nothing");
    assert.equal(lab.state("h2", "web1"), "running (migrated)");
    assert.equal((await lab.settle(again.getJobStats(uuidOf("web1")))).type, "none");
  });

  it("a source guest that crashes mid-transfer ends the migration and the incoming QEMU", async () => {
    const lab = new Lab();
    lab.define("h1", "web1", "running");
    const call = lab.migrate("web1");
    await lab.runFor(1_000);
    lab.host("h1").guestAction(lab.host("h1").byNameOrUuid("web1")!, "crash");
    await lab.runFor(100);
    assert.match(call.settled()!.message, /domain is not running/);
    assert.equal(lab.state("h2", "web1"), "undefined");
  });
});
