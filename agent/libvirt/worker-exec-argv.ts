// Node options for the binding's worker threads. Workers inherit process.execArgv, but a process
// started as `node --input-type=module -e '...'` would make every worker fail with
// ERR_INPUT_TYPE_NOT_ALLOWED (they load files, not strings), so the options that only make sense
// for the main entry point are left out.

const entryPointFlagsWithValue = new Set(["-e", "--eval", "-p", "--print"]);

export function workerExecArgv(parentExecArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let index = 0; index < parentExecArgv.length; index++) {
    const argument = parentExecArgv[index]!;
    if (entryPointFlagsWithValue.has(argument)) {
      index++; // skip its value too
      continue;
    }
    if (argument.startsWith("--input-type") || argument.startsWith("--eval=") || argument.startsWith("--print=")) continue;
    kept.push(argument);
  }
  return kept;
}
