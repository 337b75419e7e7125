// npm run fuzz -- [--cases N] [--seed S] [--replicas 1|3|5] [--tls]
// Starts a real cluster (test/fuzz/harness.ts), fuzzes it (test/fuzz/fuzz.ts), checks that every
// process is still running, prints the report and exits 0 only when nothing was found.
import { parseArgs } from "node:util";
import { runFuzz } from "./fuzz.js";
import { startFuzzCluster } from "./harness.js";

const { values } = parseArgs({
  options: { cases: { type: "string", default: "5000" }, seed: { type: "string", default: "1" }, replicas: { type: "string", default: "1" }, tls: { type: "boolean", default: false } },
  strict: true,
});
const cases = Number(values.cases);
const seed = Number(values.seed);
const replicas = Number(values.replicas);
if (!Number.isInteger(cases) || cases <= 0 || !Number.isInteger(seed) || ![1, 3, 5].includes(replicas)) {
  process.stderr.write("usage: npm run fuzz -- [--cases N] [--seed S] [--replicas 1|3|5] [--tls]\n");
  process.exit(2);
}

const cluster = await startFuzzCluster({ replicas, tls: values.tls === true });
let failed = true;
process.on("SIGINT", () => void cluster.stop().then(() => process.exit(130)));
try {
  const report = await runFuzz({ cases, seed, endpoints: cluster.endpoints, credentials: cluster.credentials, nearValidStrings: cluster.nearValidStrings, progress: (line) => process.stdout.write(`${line}\n`) });
  const crashed = cluster.processes.filter((running) => running.child.exitCode !== null || running.child.signalCode !== null).map((running) => running.name);
  for (const name of crashed) report.findings.push(`${name} is no longer running`);
  if (report.findings.length > 0) {
    for (const running of cluster.processes) process.stdout.write(`--- last output of ${running.name}:\n${running.output().slice(-3000)}\n`);
  }
  process.stdout.write(`${JSON.stringify({ ...report, acceptedWrites: report.acceptedWrites }, null, 2)}\n`);
  for (const finding of report.findings) process.stdout.write(`FINDING ${finding}\n`);
  process.stdout.write(`${report.cases} cases (${report.mutatedCases} mutated) in ${report.durationMs} ms, seed ${seed}, ${replicas} replica(s)${values.tls ? ", mTLS" : ""}: ${report.findings.length} findings\n`);
  failed = report.findings.length > 0;
} finally {
  await cluster.stop();
}
process.exit(failed ? 1 : 0);
