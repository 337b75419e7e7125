// Runs one scenario folder (Proxmox's test layout, etcd's rewrite flag):
//   README      one line: what the scenario shows
//   cluster.json the initial cluster (cluster-spec.ts)
//   cmdlist     one command per line (commands/*.ts), `#` comments; commands act at the current
//               simulated time and `advance` moves it
//   log.expect  the golden log. The run's log is diffed against it and the first difference shown.
//               Missing, it is written for review; UPDATE_GOLDEN=1 rewrites it. Commit only diffs you
//               understand.
// The invariants run throughout; the log ends with the final state of every replica, agent and VM.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { commands } from "./commands/index.js";
import { CommandError } from "./commands/sim-command.js";
import { ExpectationFailed } from "./commands/expect.js";
import { parseClusterSpec, SpecError } from "./cluster-spec.js";
import { Violation } from "./invariants.js";
import type { SimBug } from "./bugs.js";
import { describeFinalState } from "./summary.js";
import { World } from "./world.js";

export interface ScenarioLine {
  lineNumber: number;
  text: string;
  name: string;
  args: string[];
}

export interface ScenarioResult {
  name: string;
  outcome: "passed" | "failed" | "new" | "updated";
  /** Why it failed, or what was written. */
  message: string;
  traceHash: string;
  lines: readonly string[];
  simulatedMs: number;
}

export interface ScenarioOptions {
  /** Rewrite log.expect with this run's log (UPDATE_GOLDEN=1). */
  update?: boolean;
  /** Write a missing log.expect for review (the CLI does; tests treat a missing one as a failure). */
  writeMissing?: boolean;
  /** Receives log lines as they are written. */
  echo?: (line: string) => void;
  /** Deliberately unsafe code to run the scenario against (bugs.ts): the checkers should catch it. */
  bugs?: ReadonlySet<SimBug>;
  /** Overrides cluster.json's seed (to look for a seed that exposes a bug). */
  seed?: number;
}

/** Scenario folders under `root`: directories holding a cmdlist, in name order. */
export function scenarioFolders(root: string): string[] {
  return readdirSync(root)
    .sort()
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isDirectory() && existsSync(join(path, "cmdlist")));
}

export function parseCmdlist(text: string, where: string): ScenarioLine[] {
  const lines: ScenarioLine[] = [];
  text.split("\n").forEach((raw, position) => {
    const content = raw.replace(/#.*$/, "").trim();
    if (content === "") return;
    const words = content.split(/\s+/);
    const name = words[0]!;
    if (!commands.has(name)) throw new CommandError(`${where}:${position + 1}: unknown command "${name}" (known: ${[...commands.keys()].sort().join(", ")})`);
    lines.push({ lineNumber: position + 1, text: content, name, args: words.slice(1) });
  });
  return lines;
}

/** The first line where `actual` and `expected` differ, with a little context, or null when equal. */
export function firstDifference(expected: readonly string[], actual: readonly string[]): string | null {
  const length = Math.max(expected.length, actual.length);
  for (let index = 0; index < length; index += 1) {
    if (expected[index] === actual[index]) continue;
    const context = actual.slice(Math.max(0, index - 3), index).map((line) => `    ${line}`);
    return [
      `log differs from log.expect at line ${index + 1}:`,
      ...context,
      `  - ${expected[index] ?? "(end of log.expect)"}`,
      `  + ${actual[index] ?? "(end of log)"}`,
    ].join("\n");
  }
  return null;
}

export async function runScenario(directory: string, options: ScenarioOptions = {}): Promise<ScenarioResult> {
  const name = basename(directory);
  const fail = (message: string, world: World | null): ScenarioResult => ({ name, outcome: "failed", message, traceHash: world?.trace.hash() ?? "", lines: world?.trace.lines ?? [], simulatedMs: world?.scheduler.nowMs ?? 0 });
  let world: World | null = null;
  try {
    const readme = readFileSync(join(directory, "README"), "utf8").trim();
    if (readme === "" || readme.includes("\n")) return fail("README must be exactly one line", null);
    const spec = parseClusterSpec(JSON.parse(readFileSync(join(directory, "cluster.json"), "utf8")), `${name}/cluster.json`);
    const script = parseCmdlist(readFileSync(join(directory, "cmdlist"), "utf8"), `${name}/cmdlist`);
    world = new World({ spec, seed: options.seed ?? spec.seed, bugs: options.bugs ?? new Set() });
    world.trace.echo = options.echo ?? null;
    world.start();
    for (const line of script) {
      world.trace.line("cmd", line.text);
      try {
        await commands.get(line.name)!.run(world, line.args);
        world.checkState();
      } catch (error) {
        if (error instanceof CommandError) return fail(`cmdlist:${line.lineNumber}: ${error.message}`, world);
        if (error instanceof ExpectationFailed) return fail(`cmdlist:${line.lineNumber}: ${line.text}: ${error.message}`, world);
        throw error;
      }
    }
    await world.settleChecks();
    for (const summary of describeFinalState(world)) world.trace.line("end", summary);
  } catch (error) {
    if (error instanceof Violation && world !== null) {
      const failure = world.failure;
      return fail(`invariant "${error.invariant}" broken at ${((failure?.atMs ?? 0) / 1000).toFixed(3)} s (event ${failure?.event ?? "?"}): ${error.detail}`, world);
    }
    if (error instanceof SpecError || error instanceof SyntaxError || error instanceof CommandError) return fail(error.message, world);
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return fail(`missing ${(error as NodeJS.ErrnoException).path}`, world);
    throw error;
  } finally {
    await world?.dispose();
  }
  const lines = world.trace.lines;
  const result = { name, traceHash: world.trace.hash(), lines, simulatedMs: world.scheduler.nowMs };
  const goldenPath = join(directory, "log.expect");
  const text = `${lines.join("\n")}\n`;
  if (!existsSync(goldenPath) && options.writeMissing === false) {
    return { ...result, outcome: "failed", message: `no log.expect: run \`npm run sim -- --scenario ${directory}\` to write one, review it and commit it` };
  }
  if (options.update === true || !existsSync(goldenPath)) {
    const existed = existsSync(goldenPath);
    writeFileSync(goldenPath, text);
    return { ...result, outcome: existed ? "updated" : "new", message: `${existed ? "rewrote" : "wrote"} ${goldenPath} (${lines.length} lines): review it` };
  }
  const expected = readFileSync(goldenPath, "utf8").replace(/\n$/, "").split("\n");
  const difference = firstDifference(expected, lines);
  if (difference !== null) return { ...result, outcome: "failed", message: difference };
  return { ...result, outcome: "passed", message: `${lines.length} lines match` };
}
