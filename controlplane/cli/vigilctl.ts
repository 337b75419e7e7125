#!/usr/bin/env node
// vigilctl: the operator CLI of vigil (DESIGN §11). This file only wires the process:
// argv and environment in, stdout/stderr and an exit code out. Parsing is in args.ts,
// calls in client.ts, execution in commands.ts, printing in output.ts.
import * as grpc from "@grpc/grpc-js";
import { staticReplicaChannelCredentials } from "../../common/tls.js";
import { parseCommandLine } from "./args.js";
import { Endpoints } from "./client.js";
import { type Terminal, runCommand } from "./commands.js";
import { ExitCode, UsageError, describeFailure } from "./errors.js";
import { redrawText } from "./output.js";

/** After a second Ctrl-C, or when something keeps the process alive, exit regardless. */
const exitGraceMs = 2_000;

function printError(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** How many lines the last redraw left on the screen (the cursor is on the last one). */
let redrawnLines = 0;

const terminal: Terminal = {
  isTty: process.stdout.isTTY === true,
  print(text) {
    redrawnLines = 0;
    process.stdout.write(`${text}\n`);
  },
  redraw(lines) {
    process.stdout.write(redrawText(redrawnLines, lines, process.stdout.columns));
    redrawnLines = lines.length;
  },
  note(text) {
    process.stderr.write(`${text}\n`);
  },
};

function sleep(delayMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error("aborted"));
    const onAbort = () => {
      clearTimeout(handle);
      reject(new Error("aborted"));
    };
    const handle = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseCommandLine(argv, {
    VIGIL_ENDPOINTS: process.env["VIGIL_ENDPOINTS"],
    VIGIL_TLS_CA: process.env["VIGIL_TLS_CA"],
    VIGIL_TLS_CERT: process.env["VIGIL_TLS_CERT"],
    VIGIL_TLS_KEY: process.env["VIGIL_TLS_KEY"],
  });
  switch (parsed.kind) {
    case "usage-error":
      printError(describeFailure(new UsageError(parsed.message)).line);
      return ExitCode.usage;
    case "help":
      terminal.print(parsed.text);
      return ExitCode.ok;
    case "completion":
      process.stdout.write(parsed.script);
      return ExitCode.ok;
    case "run":
      break;
  }
  const interrupt = new AbortController();
  process.on("SIGINT", () => {
    if (interrupt.signal.aborted) process.exit(ExitCode.interrupted);
    interrupt.abort();
  });
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = parsed.globals.tls === undefined ? grpc.credentials.createInsecure() : staticReplicaChannelCredentials(parsed.globals.tls);
  } catch (error) {
    printError(describeFailure(new UsageError(`TLS: ${(error as Error).message}`)).line);
    return ExitCode.usage;
  }
  const rpc = new Endpoints(parsed.globals.endpoints, credentials);
  try {
    return await runCommand(parsed.command, {
      rpc,
      globals: parsed.globals,
      terminal,
      signal: interrupt.signal,
      nowMs: () => Date.now(),
      sleep,
    });
  } catch (error) {
    const failure = describeFailure(error);
    printError(failure.line);
    return failure.exitCode;
  } finally {
    rpc.close();
  }
}

function exitSoon(code: ExitCode): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), exitGraceMs).unref();
}

// grpc-js logs connection trouble to stderr on its own; vigilctl reports it as one line instead.
if (process.env["GRPC_VERBOSITY"] === undefined) grpc.setLogVerbosity(grpc.logVerbosity.NONE);
// `vigilctl events | head` closes the pipe early; that is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  process.exit(error.code === "EPIPE" ? ExitCode.ok : ExitCode.failed);
});
process.on("uncaughtException", (error) => {
  printError(describeFailure(error).line);
  process.exit(ExitCode.failed);
});

main(process.argv.slice(2)).then(exitSoon, (error: unknown) => {
  const failure = describeFailure(error);
  printError(failure.line);
  exitSoon(failure.exitCode);
});
