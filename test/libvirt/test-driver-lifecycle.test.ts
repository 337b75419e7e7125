// Proves every domain lifecycle operation against libvirt's in-process test driver (test:///default): each call's resulting state and reason, the lifecycle event it emits, and libvirt's error codes for refused calls.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { LibvirtConnection, LibvirtError } from "../../agent/libvirt/index.js";
import { testDriverDomainXml } from "./domain-xml.js";
import { EventRecorder, isLifecycle } from "./wait-for.js";

const eventTimeoutMs = 2_000;

describe("libvirt binding on the test driver", () => {
  let connection: LibvirtConnection;
  let recorder: EventRecorder;

  before(async () => {
    connection = await LibvirtConnection.open("test:///default");
    recorder = new EventRecorder(connection);
  });

  after(async () => {
    await connection.close();
  });

  test("opens a live connection and lists the driver's initial running domain", async () => {
    assert.equal(connection.isAlive(), true);
    assert.equal(connection.uri, "test:///default");
    const domains = await connection.listDomains();
    const initial = domains.find((domain) => domain.name === "test");
    assert.ok(initial, "the test driver starts with a domain named test");
    assert.equal(initial.state, "running");
    assert.equal(initial.persistent, true);
    assert.match(initial.uuid, /^[0-9a-f-]{36}$/);
  });

  test("looks a domain up by name and by UUID, and returns null for a missing one", async () => {
    const byName = await connection.lookupDomain("test");
    assert.ok(byName);
    const byUuid = await connection.lookupDomain(byName.uuid);
    assert.deepEqual(byUuid, byName);
    assert.equal(await connection.lookupDomain("no-such-domain"), null);
    assert.equal(await connection.lookupDomain(randomUUID()), null);
  });

  test("turns an operation on a missing domain into a LibvirtError with libvirt's code, domain and message", async () => {
    const missing = randomUUID();
    const error = await connection.destroyDomain(missing).then(
      () => assert.fail("destroying a missing domain must fail"),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof LibvirtError);
    assert.equal(error.code, 42);
    assert.equal(error.codeName, "VIR_ERR_NO_DOMAIN");
    assert.equal(error.domainName, "VIR_FROM_TEST");
    assert.match(error.libvirtMessage, /not found/i);
  });

  test("defines, starts, suspends, resumes, shuts down, restarts, destroys and undefines a domain, with events and reasons", async () => {
    const uuid = randomUUID();
    const name = `vigil-${uuid.slice(0, 8)}`;

    const defined = await connection.defineDomain(testDriverDomainXml(name, uuid));
    assert.deepEqual([defined.name, defined.uuid, defined.state, defined.persistent], [name, uuid, "shutoff", true]);
    assert.equal(defined.vcpus, 1);
    assert.equal(defined.memoryBytes, 64 * 1024 * 1024);
    await recorder.waitForEvent(isLifecycle(uuid, "defined", "added"), { timeoutMs: eventTimeoutMs, what: "defined/added" });

    const started = await connection.startDomain(uuid);
    assert.deepEqual([started.state, started.reason], ["running", "booted"]);
    await recorder.waitForEvent(isLifecycle(uuid, "started", "booted"), { timeoutMs: eventTimeoutMs, what: "started/booted" });

    const suspended = await connection.suspendDomain(uuid);
    assert.deepEqual([suspended.state, suspended.reason], ["paused", "user"]);
    await recorder.waitForEvent(isLifecycle(uuid, "suspended", "paused"), { timeoutMs: eventTimeoutMs, what: "suspended/paused" });

    const resumed = await connection.resumeDomain(uuid);
    assert.deepEqual([resumed.state, resumed.reason], ["running", "unpaused"]);
    await recorder.waitForEvent(isLifecycle(uuid, "resumed", "unpaused"), { timeoutMs: eventTimeoutMs, what: "resumed/unpaused" });

    await connection.shutdownDomain(uuid);
    await recorder.waitForEvent(isLifecycle(uuid, "stopped", "shutdown"), { timeoutMs: eventTimeoutMs, what: "stopped/shutdown" });
    assert.deepEqual(await connection.getDomainState(uuid), { state: "shutoff", reason: "shutdown" });

    await connection.startDomain(uuid);
    const destroyed = await connection.destroyDomain(uuid);
    assert.deepEqual([destroyed.state, destroyed.reason], ["shutoff", "destroyed"]);
    await recorder.waitForEvent(isLifecycle(uuid, "stopped", "destroyed"), { timeoutMs: eventTimeoutMs, what: "stopped/destroyed" });

    await connection.undefineDomain(uuid);
    await recorder.waitForEvent(isLifecycle(uuid, "undefined", "removed"), { timeoutMs: eventTimeoutMs, what: "undefined/removed" });
    assert.equal(await connection.lookupDomain(uuid), null);

    assert.deepEqual(recorder.lifecycleOf(uuid), [
      "defined/added",
      "started/booted",
      "suspended/paused",
      "resumed/unpaused",
      "stopped/shutdown",
      "started/booted",
      "stopped/destroyed",
      "undefined/removed",
    ]);
  });

  test("refuses to start a running domain and to resume a running one with the test driver's error", async () => {
    const running = await connection.lookupDomain("test");
    assert.ok(running);
    assert.equal(running.state, "running");
    // The test driver reports these as internal errors (the QEMU driver says VIR_ERR_OPERATION_INVALID).
    const refusals = [
      { attempt: () => connection.startDomain(running.uuid), message: /already running/ },
      { attempt: () => connection.resumeDomain(running.uuid), message: /not paused/ },
    ];
    for (const { attempt, message } of refusals) {
      await assert.rejects(attempt(), (error: unknown) => {
        assert.ok(error instanceof LibvirtError);
        assert.equal(error.codeName, "VIR_ERR_INTERNAL_ERROR");
        assert.match(error.libvirtMessage, message);
        return true;
      });
    }
  });

  test("rejects a malformed definition with libvirt's XML error", async () => {
    await assert.rejects(connection.defineDomain("<domain"), (error: unknown) => {
      assert.ok(error instanceof LibvirtError);
      assert.equal(error.codeName, "VIR_ERR_XML_DETAIL");
      assert.equal(error.operation, "virDomainDefineXML");
      return true;
    });
  });

  test("returns the domain XML and decoded state through a main-thread handle", async () => {
    const xml = await connection.getDomainXml("test");
    assert.match(xml, /<name>test<\/name>/);
    const handle = await connection.openDomainHandle("test");
    try {
      assert.deepEqual(handle.state(), await connection.getDomainState("test"));
      assert.equal(handle.info().name, "test");
    } finally {
      handle.close();
    }
  });

  test("reports host CPUs, memory, free memory and the memory of running domains", async () => {
    const host = await connection.getHostInfo();
    assert.ok(host.cpus > 0);
    assert.ok(host.memoryBytes > 0);
    assert.ok(host.freeMemoryBytes > 0);
    const running = (await connection.listDomains()).filter((domain) => domain.state === "running" || domain.state === "paused");
    assert.equal(host.runningDomains, running.length);
    assert.equal(host.runningDomainsMemoryBytes, running.reduce((sum, domain) => sum + domain.memoryBytes, 0));
  });

  test("stops calling a lifecycle listener once it unsubscribes", async () => {
    const seen: string[] = [];
    const unsubscribe = connection.onLifecycle((event) => seen.push(`${event.event}/${event.detail}`));
    const uuid = randomUUID();
    await connection.defineDomain(testDriverDomainXml(`vigil-${uuid.slice(0, 8)}`, uuid));
    await recorder.waitForEvent(isLifecycle(uuid, "defined"), { timeoutMs: eventTimeoutMs, what: "defined" });
    unsubscribe();
    await connection.undefineDomain(uuid);
    await recorder.waitForEvent(isLifecycle(uuid, "undefined"), { timeoutMs: eventTimeoutMs, what: "undefined" });
    assert.deepEqual(seen, ["defined/added"]);
  });
});
