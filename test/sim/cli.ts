// The whole-cluster simulator's command line (DESIGN §11):
//   npm run sim -- --scenario DIR              one scenario folder (any path)
//   npm run sim -- --scenarios DIR             every scenario folder under DIR
//   npm run sim -- --seeds N [--from S]        N random seeds starting at S (default 1)
//   npm run sim -- --replay SEED [--verbose]   one random seed, printing its log
// Options: --bug NAME (repeatable; deliberately unsafe code, see bugs.ts), --verbose (print the log;
// with --replay also every production log record), --safety-ms MS and --liveness-ms MS (random mode).
// UPDATE_GOLDEN=1 rewrites scenarios' log.expect. Exit 0 only when everything passed; the last line
// is always "N passed, M failed".
import { resolve } from "node:path";
import { isSimBug, simBugNames, type SimBug } from "./bugs.js";
import { replayCommand, runRandom, type RandomResult } from "./random.js";
import { runScenario, scenarioFolders, type ScenarioResult } from "./scenario.js";

interface CliOptions {
  scenario: string | null;
  scenarios: string | null;
  seeds: number;
  from: number;
  replay: number | null;
  verbose: boolean;
  bugs: Set<SimBug>;
  safetyMs: number | undefined;
  livenessMs: number | undefined;
}

class UsageError extends Error {}

const usage = "usage: npm run sim -- --scenario DIR | --scenarios DIR | --seeds N [--from S] | --replay SEED [--verbose]  [--bug NAME]... [--safety-ms MS] [--liveness-ms MS]";

function integer(text: string | undefined, flag: string): number {
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value < 0) throw new UsageError(`${flag} wants a whole number, got ${text ?? "nothing"}`);
  return value;
}

function parseArguments(argv: readonly string[]): CliOptions {
  const options: CliOptions = { scenario: null, scenarios: null, seeds: 0, from: 1, replay: null, verbose: false, bugs: new Set(), safetyMs: undefined, livenessMs: undefined };
  for (let position = 0; position < argv.length; position += 1) {
    const flag = argv[position]!;
    const value = () => {
      position += 1;
      return argv[position];
    };
    switch (flag) {
      case "--scenario":
        options.scenario = value() ?? "";
        break;
      case "--scenarios":
        options.scenarios = value() ?? "";
        break;
      case "--seeds":
        options.seeds = integer(value(), flag);
        break;
      case "--from":
        options.from = integer(value(), flag);
        break;
      case "--replay":
        options.replay = integer(value(), flag);
        break;
      case "--verbose":
        options.verbose = true;
        break;
      case "--bug": {
        const name = value() ?? "";
        if (!isSimBug(name)) throw new UsageError(`unknown bug "${name}"; known: ${simBugNames.join(", ")}`);
        options.bugs.add(name);
        break;
      }
      case "--safety-ms":
        options.safetyMs = integer(value(), flag);
        break;
      case "--liveness-ms":
        options.livenessMs = integer(value(), flag);
        break;
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  const modes = [options.scenario !== null, options.scenarios !== null, options.seeds > 0, options.replay !== null].filter(Boolean).length;
  if (modes !== 1) throw new UsageError("give exactly one of --scenario, --scenarios, --seeds, --replay");
  return options;
}

function reportScenario(result: ScenarioResult): boolean {
  const seconds = (result.simulatedMs / 1000).toFixed(1);
  switch (result.outcome) {
    case "passed":
      console.log(`PASS ${result.name} (${seconds} s simulated, trace ${result.traceHash})`);
      return true;
    case "new":
    case "updated":
      console.log(`${result.outcome === "new" ? "NEW " : "UPDATED "}${result.name}: ${result.message}`);
      return true;
    case "failed":
      console.log(`FAIL ${result.name}: ${result.message}`);
      return false;
  }
}

function reportSeed(result: RandomResult, bugs: ReadonlySet<SimBug>): boolean {
  const failure = result.failure;
  if (failure === null) return true;
  console.log(`FAIL seed=${result.seed} step=${failure.step} event=${failure.event} at=${(failure.atMs / 1000).toFixed(3)}s phase=${failure.phase} invariant="${failure.invariant}"`);
  console.log(`  ${failure.detail}`);
  console.log(`  replay: ${replayCommand(result.seed, bugs)}`);
  return false;
}

async function main(argv: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    console.log("0 passed, 0 failed");
    return 2;
  }
  let passed = 0;
  let failed = 0;
  const count = (ok: boolean) => (ok ? (passed += 1) : (failed += 1));
  const startedMs = performance.now();
  const update = process.env.UPDATE_GOLDEN === "1";
  const echo = options.verbose ? (line: string) => console.log(line) : undefined;
  if (options.scenario !== null) {
    count(reportScenario(await runScenario(resolve(options.scenario), { update, bugs: options.bugs, ...(echo ? { echo } : {}) })));
  } else if (options.scenarios !== null) {
    const folders = scenarioFolders(resolve(options.scenarios));
    if (folders.length === 0) console.log(`no scenario folders under ${options.scenarios}`);
    for (const folder of folders) count(reportScenario(await runScenario(folder, { update, bugs: options.bugs, ...(echo ? { echo } : {}) })));
  } else if (options.replay !== null) {
    const result = await runRandom({ seed: options.replay, bugs: options.bugs, safetyMs: options.safetyMs, livenessMs: options.livenessMs, echo: (line) => console.log(line), verbose: options.verbose });
    count(reportSeed(result, options.bugs));
    console.log(`seed ${result.seed}: ${result.failure === null ? "passed" : "failed"} after ${result.steps} steps, ${result.events} events, ${(result.simulatedMs / 1000).toFixed(1)} s simulated, trace ${result.traceHash}`);
  } else {
    const totals = new Map<string, number>();
    for (let seed = options.from; seed < options.from + options.seeds; seed += 1) {
      const result = await runRandom({ seed, bugs: options.bugs, safetyMs: options.safetyMs, livenessMs: options.livenessMs });
      for (const [name, value] of Object.entries({ ...result.counts, events: result.events, simulatedSeconds: result.simulatedMs / 1000 })) totals.set(name, (totals.get(name) ?? 0) + value);
      count(reportSeed(result, options.bugs));
    }
    console.log(`per seed on average: ${[...totals].map(([name, total]) => `${name} ${(total / options.seeds).toFixed(1)}`).join(", ")}`);
    console.log(`seeds ${options.from}..${options.from + options.seeds - 1} in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
