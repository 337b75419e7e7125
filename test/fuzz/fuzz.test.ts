// Proves no input crashes vigild or half-applies: a bounded, seeded fuzz run of random and mutated
// protobuf messages against every public, agent and peer RPC of a real replica with a real agent,
// plaintext and over mTLS. More cases: npm run fuzz -- --cases 100000 --seed S [--replicas 3] [--tls].
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { runFuzz, type FuzzReport } from "./fuzz.js";
import { startFuzzCluster, type FuzzCluster } from "./harness.js";

/** CI's budget: a few thousand cases in well under a minute on two shared cores. */
const ciCases = Number(process.env.VIGIL_FUZZ_CASES ?? "2000");

function checkReport(report: FuzzReport, cluster: FuzzCluster, cases: number): void {
  assert.deepEqual(report.findings, [], report.findings.join("\n"));
  assert.equal(report.cases, cases, "the run ends by itself after every case got a status");
  assert.ok(report.mutatedCases > cases / 5, `raw byte mutations were sent (${report.mutatedCases})`);
  assert.ok((report.statuses.INVALID_ARGUMENT ?? 0) > cases / 10, `handlers refused bad input: ${JSON.stringify(report.statuses)}`);
  for (const running of cluster.processes) assert.equal(running.child.exitCode, null, `${running.name} still runs:\n${running.output().slice(-2000)}`);
}

describe("RPC fuzzing against a real vigild and agent", () => {
  for (const tls of [false, true]) {
    describe(tls ? "over mTLS" : "plaintext (--insecure)", () => {
      let cluster: FuzzCluster;
      before(async () => {
        cluster = await startFuzzCluster({ replicas: 1, tls });
      });
      after(async () => {
        if (cluster !== undefined) await cluster.stop();
      });

      it(`answers ${tls ? ciCases / 4 : ciCases} seeded cases with a status each, commits nothing it refuses, and keeps running`, async () => {
        const cases = tls ? ciCases / 4 : ciCases;
        const report = await runFuzz({ cases, seed: tls ? 2 : 1, endpoints: cluster.endpoints, credentials: cluster.credentials, nearValidStrings: cluster.nearValidStrings });
        checkReport(report, cluster, cases);
        if (tls) assert.ok((report.statuses.PERMISSION_DENIED ?? 0) > 0, "peer messages naming another replica are refused");
        const health = await new Promise<number>((resolve) => {
          const client = new grpc.Client(cluster.endpoints[0]!, cluster.credentials("ClusterService"));
          client.makeUnaryRequest("/grpc.health.v1.Health/Check", (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.alloc(0), { deadline: Date.now() + 5_000 }, (error, response) => {
            client.close();
            resolve(error === null && response !== undefined ? response[1]! : -1);
          });
        });
        assert.equal(health, 1, "health says SERVING after the run");
      });
    });
  }
});
