// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [substring ...]  — only files whose path contains one of them.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const testRoot = join(root, "dist", "test");

function collect(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...collect(path));
    else if (name.endsWith(".test.js")) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = collect(testRoot).filter(
  (file) => filters.length === 0 || filters.some((filter) => relative(root, file).includes(filter)),
);
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(" ") || "(all)"}`);
  process.exit(2);
}
const result = spawnSync(
  process.execPath,
  // Every test (and every file, which counts as one) is bounded: a hung native call or process
  // fails instead of hanging CI.
  ["--test", "--test-reporter=spec", `--test-concurrency=${process.env.VIGIL_TEST_CONCURRENCY ?? "2"}`, `--test-timeout=${process.env.VIGIL_TEST_TIMEOUT_MS ?? "600000"}`, ...files],
  { stdio: "inherit", cwd: root },
);
process.exit(result.status ?? 1);
