// Runs the Raft simulator from the command line.
//   node dist/test/raft/sim-cli.js --seeds N [--from S] [--replicas 3|5] [--bug NAME]
//   node dist/test/raft/sim-cli.js --replay SEED [--verbose] [--replicas 3|5] [--bug NAME]
// Exit 0 only when every seed passed; the last line says how many passed and failed.
import { InjectedBug } from "../../controlplane/replication/raft-types.js";
import { replayCommand, runSimulation, type SimulationOptions, type SimulationResult } from "./simulation.js";

interface CliOptions {
  seeds: number;
  from: number;
  replay: number | null;
  verbose: boolean;
  replicaCount: number | undefined;
  injectedBug: InjectedBug | null;
}

const usage =
  "usage: sim-cli.js --seeds N [--from S] [--replicas 3|5] [--bug NAME] | --replay SEED [--verbose] [--replicas 3|5] [--bug NAME]";

function parseArguments(argv: readonly string[]): CliOptions {
  const options: CliOptions = { seeds: 0, from: 1, replay: null, verbose: false, replicaCount: undefined, injectedBug: null };
  for (let position = 0; position < argv.length; position += 1) {
    const flag = argv[position];
    const value = (): string => {
      const next = argv[position + 1];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      position += 1;
      return next;
    };
    switch (flag) {
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
      case "--replicas":
        options.replicaCount = integer(value(), flag);
        break;
      case "--bug":
        options.injectedBug = bug(value());
        break;
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  if (options.replay === null && options.seeds <= 0) throw new UsageError("give --seeds N or --replay SEED");
  return options;
}

class UsageError extends Error {}

function integer(text: string, flag: string | undefined): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`${flag} wants a non-negative integer, got ${text}`);
  return value;
}

function bug(text: string): InjectedBug {
  const known = Object.values(InjectedBug) as string[];
  if (!known.includes(text)) throw new UsageError(`unknown bug ${text}; known: ${known.join(", ")}`);
  return text as InjectedBug;
}

function simulationOptions(seed: number, options: CliOptions, log?: (line: string) => void): SimulationOptions {
  return { seed, replicaCount: options.replicaCount, injectedBug: options.injectedBug, ...(log ? { log } : {}) };
}

function reportFailure(result: SimulationResult, options: CliOptions): void {
  const failure = result.failure!;
  console.log(
    `FAIL seed=${result.seed} step=${failure.step} tick=${failure.tick} phase=${failure.phase} invariant="${failure.invariant}"`,
  );
  console.log(`  ${failure.detail}`);
  console.log(`  replay: ${replayCommand({ seed: result.seed, replicaCount: options.replicaCount, injectedBug: options.injectedBug })}`);
}

function main(): number {
  let options: CliOptions;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n${usage}`);
    return 2;
  }
  if (options.replay !== null) {
    const log = options.verbose ? (line: string) => console.log(line) : undefined;
    const result = runSimulation(simulationOptions(options.replay, options, log));
    if (result.failure !== null) reportFailure(result, options);
    console.log(`seed ${result.seed}: ${result.failure === null ? "passed" : "failed"} in ${result.steps} steps, ${result.ticks} ticks, trace ${result.traceHash}`);
    console.log(`${result.failure === null ? 1 : 0} passed, ${result.failure === null ? 0 : 1} failed`);
    return result.failure === null ? 0 : 1;
  }
  const startedMs = performance.now();
  let passed = 0;
  let failed = 0;
  const totals = new Map<string, number>();
  for (let seed = options.from; seed < options.from + options.seeds; seed += 1) {
    const result = runSimulation(simulationOptions(seed, options));
    for (const [name, value] of Object.entries(result.stats)) totals.set(name, (totals.get(name) ?? 0) + value);
    totals.set("steps", (totals.get("steps") ?? 0) + result.steps);
    if (result.failure === null) passed += 1;
    else {
      failed += 1;
      reportFailure(result, options);
    }
  }
  const elapsedSeconds = ((performance.now() - startedMs) / 1000).toFixed(1);
  const means = [...totals.entries()].map(([name, total]) => `${name} ${(total / options.seeds).toFixed(1)}`);
  console.log(`per seed on average: ${means.join(", ")}`);
  console.log(`seeds ${options.from}..${options.from + options.seeds - 1} in ${elapsedSeconds} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main();
