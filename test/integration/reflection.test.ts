// Proves grpcurl-class strict clients work against vigild: `buf curl` lists every vigil.v1 service
// and grpc.health.v1 through server reflection, and calls ClusterService.Status with no local protos.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startVigild, stopProcess, temporaryDirectory, type Vigild } from "../support/processes.js";

const require = createRequire(import.meta.url);
const buf = join(dirname(require.resolve("@bufbuild/buf/package.json")), "bin", "buf");
const bufCurl = (...args: string[]) => execFileSync(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { encoding: "utf8", timeout: 30_000 });

describe("server reflection from the real descriptor set", () => {
  const directory = temporaryDirectory("reflection");
  let vigild: Vigild;
  before(async () => {
    vigild = await startVigild({ dataDir: directory.path });
  });
  after(async () => {
    await stopProcess(vigild);
    directory.remove();
  });

  it("lists every vigil.v1 service and health", () => {
    const services = bufCurl("--list-services", `http://${vigild.address}`).trim().split("\n").sort();
    assert.deepEqual(services, [
      "grpc.health.v1.Health",
      "vigil.v1.AgentGateway",
      "vigil.v1.ClusterService",
      "vigil.v1.HostService",
      "vigil.v1.JobService",
      "vigil.v1.PeerService",
      "vigil.v1.VmService",
    ]);
  });

  it("lists methods of a service whose messages import google/protobuf", () => {
    const methods = bufCurl("--list-methods", `http://${vigild.address}`).trim().split("\n");
    assert.ok(methods.includes("vigil.v1.ClusterService/SetMaintenance"), methods.join(","));
    assert.ok(methods.includes("vigil.v1.ClusterService/Status"));
  });

  it("calls ClusterService.Status and Health.Check over reflection", () => {
    const status = JSON.parse(bufCurl(`http://${vigild.address}/vigil.v1.ClusterService/Status`)) as { term: string; primary: string };
    assert.equal(status.primary, "cp1");
    assert.ok(Number(status.term) >= 1);
    const health = JSON.parse(bufCurl(`http://${vigild.address}/grpc.health.v1.Health/Check`)) as { status: string };
    assert.equal(health.status, "SERVING");
  });

  it("returns a clear status for a bad request", () => {
    assert.throws(
      () => bufCurl("-d", '{"vm":""}', `http://${vigild.address}/vigil.v1.VmService/Get`),
      (error: Error & { stdout?: string; stderr?: string }) => /invalid_argument/.test(`${error.stdout ?? ""}${error.stderr ?? ""}`),
    );
  });
});
