#!/usr/bin/env node
// Summarises V8 CPU profiles (node --cpu-prof): the functions with the most self time, and the
// most total (inclusive) time, across every file given.
//   node bench/tools/cpuprofile-top.mjs [--top N] FILE.cpuprofile...
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const args = process.argv.slice(2);
let top = 25;
const files = [];
for (let index = 0; index < args.length; index++) {
  if (args[index] === "--top") top = Number(args[++index]);
  else files.push(args[index]);
}
if (files.length === 0) {
  process.stderr.write("usage: cpuprofile-top.mjs [--top N] FILE.cpuprofile...\n");
  process.exit(2);
}

const self = new Map();
const total = new Map();
let sampledUs = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, "utf8"));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const label = (node) => {
    const frame = node.callFrame;
    const where = frame.url === "" ? "" : ` ${basename(frame.url)}:${frame.lineNumber + 1}`;
    return `${frame.functionName || "(anonymous)"}${where}`;
  };
  const deltas = profile.timeDeltas;
  for (let index = 0; index < profile.samples.length; index++) {
    const us = deltas[index + 1] ?? 0;
    sampledUs += us;
    let node = nodes.get(profile.samples[index]);
    self.set(label(node), (self.get(label(node)) ?? 0) + us);
    const seen = new Set();
    while (node !== undefined) {
      const name = label(node);
      if (!seen.has(name)) {
        seen.add(name);
        total.set(name, (total.get(name) ?? 0) + us);
      }
      node = nodes.get(parent.get(node.id));
    }
  }
}
const print = (title, map) => {
  process.stdout.write(`${title}\n`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / sampledUs).toFixed(1).padStart(5)} %  ${name}\n`);
  }
};
process.stdout.write(`${files.length} profile(s), ${(sampledUs / 1000).toFixed(0)} ms sampled\n`);
print("\nself time", self);
print("\ntotal time", total);
