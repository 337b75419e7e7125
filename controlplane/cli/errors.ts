// The ways a vigilctl run can end badly, and the exit code each one maps to.
// Every error is printed as one line on stderr, prefixed "vigilctl: "; never a stack trace.

/** Exit codes (documented in `vigilctl help`). */
export const ExitCode = {
  ok: 0,
  /** The server refused or failed the operation, or no endpoint was reachable. */
  failed: 1,
  /** Bad usage, detected before any RPC is made. */
  usage: 2,
  /** `--wait` ended with the job rolled back (the VM is still where it was). */
  rolledBack: 3,
  /** Interrupted by SIGINT while waiting; the server-side job keeps running. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad usage: unknown command, wrong number of arguments, bad flag value. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The server answered with a non-OK gRPC status; `message` is the server's details. */
export class CallFailed extends Error {
  override name = "CallFailed";
  constructor(
    message: string,
    readonly code: number,
    readonly endpoint: string,
  ) {
    super(message);
  }
}

/** No endpoint could serve the call; `message` lists what each one said. */
export class NoEndpointReachable extends Error {
  override name = "NoEndpointReachable";
}

/** The server sent a reply that does not match control.proto as vigilctl knows it. */
export class MalformedReply extends Error {
  override name = "MalformedReply";
}

/** The call went through but the operation did not succeed (outcome "failed", job rolled back, ...). */
export class OperationFailed extends Error {
  override name = "OperationFailed";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

/** Collapses any text to a single line so that one error is always one stderr line. */
export function oneLine(text: string): string {
  const collapsed = text.replace(/\s*[\r\n]+\s*/g, "; ").trim();
  return collapsed === "" ? "unknown error" : collapsed;
}

/** The exit code and the stderr line for anything a run can throw. */
export function describeFailure(error: unknown): { exitCode: ExitCode; line: string } {
  if (error instanceof UsageError) return { exitCode: ExitCode.usage, line: `vigilctl: ${oneLine(error.message)}` };
  if (error instanceof OperationFailed) return { exitCode: error.exitCode, line: `vigilctl: ${oneLine(error.message)}` };
  if (error instanceof CallFailed || error instanceof NoEndpointReachable || error instanceof MalformedReply) {
    return { exitCode: ExitCode.failed, line: `vigilctl: ${oneLine(error.message)}` };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: ExitCode.failed, line: `vigilctl: internal error: ${oneLine(message)}` };
}
