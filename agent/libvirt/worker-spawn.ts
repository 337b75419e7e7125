// Starts the binding's worker threads (event pump, blocking calls) with Node options that work.
//
// Workers inherit process.execArgv by default. That breaks in one common case: a process started as
// `node --input-type=module -e '...'` makes every worker fail with ERR_INPUT_TYPE_NOT_ALLOWED,
// because workers load files, not strings. Then the entry-point options are left out. Should the
// remaining list hold an option a worker refuses (per-process V8 flags), the worker starts with none.
import { Worker, type WorkerOptions } from "node:worker_threads";

const entryPointFlagsWithValue = new Set(["-e", "--eval", "-p", "--print"]);
const entryPointFlagPrefixes = ["--input-type", "--eval=", "--print="];

function isEntryPointFlag(argument: string): boolean {
  return entryPointFlagsWithValue.has(argument) || entryPointFlagPrefixes.some((prefix) => argument.startsWith(prefix));
}

/** The parent's options without those that only make sense for a string entry point. */
export function withoutEntryPointOptions(parentExecArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let index = 0; index < parentExecArgv.length; index++) {
    const argument = parentExecArgv[index]!;
    if (entryPointFlagsWithValue.has(argument)) {
      index++; // its value
      continue;
    }
    if (!isEntryPointFlag(argument)) kept.push(argument);
  }
  return kept;
}

export function spawnWorker(url: URL, options: Omit<WorkerOptions, "execArgv"> = {}): Worker {
  if (!process.execArgv.some(isEntryPointFlag)) return new Worker(url, options);
  try {
    return new Worker(url, { ...options, execArgv: withoutEntryPointOptions(process.execArgv) });
  } catch (error) {
    if ((error as { code?: string }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw error;
    return new Worker(url, { ...options, execArgv: [] });
  }
}
