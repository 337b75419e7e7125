// pino JSON logs on stdout. Child loggers carry host, vm, job and term fields
// where they apply (DESIGN §11).
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(component: string, fields: Record<string, unknown> = {}): Logger {
  return pino({
    name: component,
    level: process.env.VIGIL_LOG_LEVEL ?? "info",
    base: { pid: process.pid, ...fields },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that discards everything, for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
