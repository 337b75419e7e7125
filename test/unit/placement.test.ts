// Proves placement honours readiness, the node limit and memory capacity, ranks by each selector, and breaks ties by host id.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { placeVm, reserve, type PlacementHost, type PlacementVm } from "../../controlplane/primary/placement.js";

const GiB = 1024 ** 3;

function host(id: string, overrides: Partial<PlacementHost> = {}): PlacementHost {
  return { id, ready: true, notReadyReason: "", memoryBytes: 64 * GiB, freeMemoryBytes: null, provisionedMemoryBytes: 0, provisionedVcpus: 0, vmCount: 0, load: 0, ...overrides };
}

const vm: PlacementVm = { name: "web1", memoryBytes: 4 * GiB, vcpus: 2, limit: [], selector: "mem" };

describe("placement", () => {
  it("ranks by each selector", () => {
    const hosts = [
      host("h1", { provisionedMemoryBytes: 40 * GiB, provisionedVcpus: 2, vmCount: 1, load: 0.1 }),
      host("h2", { memoryBytes: 32 * GiB, provisionedMemoryBytes: 4 * GiB, provisionedVcpus: 8, vmCount: 4, load: 2 }),
      host("h3", { provisionedMemoryBytes: 8 * GiB, provisionedVcpus: 4, vmCount: 2, load: 1 }),
    ];
    assert.deepEqual(placeVm(vm, hosts), { host: "h3" }); // most free memory: 56 GiB
    assert.deepEqual(placeVm({ ...vm, selector: "memprov" }, hosts), { host: "h2" });
    assert.deepEqual(placeVm({ ...vm, selector: "load" }, hosts), { host: "h1" });
    assert.deepEqual(placeVm({ ...vm, selector: "vcpus" }, hosts), { host: "h1" });
    assert.deepEqual(placeVm({ ...vm, selector: "vms" }, hosts), { host: "h1" });
  });

  it("breaks ties by host id", () => {
    assert.deepEqual(placeVm(vm, [host("h3"), host("h2"), host("h4")]), { host: "h2" });
  });

  it("honours the node limit and readiness, and says why there is no target", () => {
    const hosts = [host("h1"), host("h2", { ready: false, notReadyReason: "dead" }), host("h3")];
    assert.deepEqual(placeVm({ ...vm, limit: ["h2", "h3"] }, hosts), { host: "h3" });
    const none = placeVm({ ...vm, limit: ["h2"] }, hosts);
    assert.equal(none.host, null);
    assert.match("reason" in none ? none.reason : "", /h2: dead/);
    const unknown = placeVm({ ...vm, limit: ["h9"] }, hosts);
    assert.match("reason" in unknown ? unknown.reason : "", /no host of its limit/);
  });

  it("never overcommits memory, counting what the same round already reserved", () => {
    const hosts = [host("h1", { memoryBytes: 6 * GiB })];
    assert.deepEqual(placeVm(vm, hosts), { host: "h1" });
    const after = reserve(hosts, "h1", vm);
    const full = placeVm(vm, after);
    assert.equal(full.host, null);
    assert.match("reason" in full ? full.reason : "", /4.0 GiB free \(most: h1 with 2.0 GiB\)/);
    // What the host reports free bounds it too.
    assert.equal(placeVm(vm, [host("h1", { freeMemoryBytes: 3 * GiB })]).host, null);
  });
});
