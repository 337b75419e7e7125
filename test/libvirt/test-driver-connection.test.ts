// Proves the connection's own lifecycle on the test driver: calls after close() fail with VIR_ERR_NO_CONNECT, shutdown modes reach libvirt as flags, and opening again after the last close restarts the event pump with events flowing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LibvirtConnection, LibvirtError } from "../../agent/libvirt/index.js";
import { EventRecorder, isLifecycle } from "./wait-for.js";

const eventTimeoutMs = 2_000;

test("rejects calls after close() with VIR_ERR_NO_CONNECT, and close() is idempotent", async () => {
  const connection = await LibvirtConnection.open("test:///default");
  await connection.close();
  await connection.close();
  assert.equal(connection.isAlive(), false);
  assert.equal(connection.state, "closed");
  await assert.rejects(connection.listDomains(), (error: unknown) => {
    assert.ok(error instanceof LibvirtError);
    assert.equal(error.codeName, "VIR_ERR_NO_CONNECT");
    return true;
  });
});

test("passes shutdown modes to libvirt as flags (the test driver accepts none of them)", async () => {
  const connection = await LibvirtConnection.open("test:///default");
  try {
    await assert.rejects(connection.shutdownDomain("test", { modes: ["guestAgent"] }), (error: unknown) => {
      assert.ok(error instanceof LibvirtError);
      assert.equal(error.codeName, "VIR_ERR_INVALID_ARG");
      assert.match(error.libvirtMessage, /unsupported flags \(0x2\)/);
      return true;
    });
  } finally {
    await connection.close();
  }
});

test("restarts the event pump when a connection opens after the last one closed", async () => {
  for (let round = 0; round < 3; round++) {
    const connection = await LibvirtConnection.open("test:///default");
    const recorder = new EventRecorder(connection);
    const test = await connection.lookupDomain("test");
    assert.ok(test);
    const after = test.state === "running" ? await connection.suspendDomain(test.uuid) : await connection.resumeDomain(test.uuid);
    const expected = after.state === "paused" ? "suspended" : "resumed";
    await recorder.waitForEvent(isLifecycle(test.uuid, expected), { timeoutMs: eventTimeoutMs, what: `${expected} in round ${round}` });
    await connection.close();
  }
});
