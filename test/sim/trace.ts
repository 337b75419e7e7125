// What a simulation run says and what proves two runs identical.
// - The log: one line per observable fact (operator actions and answers, faults, leaders, duties,
//   committed cluster events, agent connections, libvirt operations, production warnings), with
//   the virtual time. Scenario folders keep it as their golden `log.expect`.
// - The trace hash: every executed event and every production log record (all levels the
//   processes log at), in order. Same seed and options → same hash, byte for byte.
import { pino } from "pino";
import type { Logger } from "../../common/logging.js";
import { Hasher } from "../raft/sim-hash.js";

const levelNames: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
/** Fields kept out of golden lines: wall-clock stamps and retry jitter say nothing a reader needs. */
const quietFields: ReadonlySet<string> = new Set(["level", "msg", "p", "component", "delayMs", "attempt", "dutiesStartedAtMs", "dutiesStoppedAtMs"]);

export function formatTime(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(9)}`;
}

export class Trace {
  readonly lines: string[] = [];
  private hasher: Hasher;
  /** Receives every line as it is written (for --verbose and replays). */
  echo: ((line: string) => void) | null = null;
  /** Also echo every production log record, not just warnings and errors. */
  echoAll = false;

  constructor(
    seed: number,
    private readonly now: () => number,
  ) {
    this.hasher = new Hasher(seed);
  }

  /** One golden-log line from `source` (a node, "net", "op", "sim"). */
  line(source: string, text: string): void {
    const line = `${formatTime(this.now())} ${source.padEnd(5)} ${text}`;
    this.lines.push(line);
    this.hasher.text(line);
    this.echo?.(line);
  }

  event(atMs: number, owner: string, label: string): void {
    this.hasher.number(atMs).text(owner).text(label);
  }

  hash(): string {
    return this.hasher.digest().toString(16).padStart(14, "0");
  }

  /** A pino logger for `source` whose records land here: hashed always, warnings in the log. */
  logger(source: string): Logger {
    const destination = { write: (json: string) => this.record(source, json) };
    return pino({ level: "info", base: { p: source }, timestamp: false }, destination);
  }

  private record(source: string, json: string): void {
    this.hasher.text(json);
    const record = JSON.parse(json) as Record<string, unknown>;
    const level = typeof record.level === "number" ? record.level : 30;
    const text = `${levelNames[level] ?? level}: ${String(record.msg ?? "")}${describeFields(record)}`;
    if (level >= 40) this.line(source, text);
    else if (this.echoAll) this.echo?.(`${formatTime(this.now())} ${source.padEnd(5)} ${text}`);
  }
}

function describeFields(record: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    if (quietFields.has(key)) continue;
    const value = record[key];
    parts.push(`${key}=${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return parts.length === 0 ? "" : ` {${parts.join(", ")}}`;
}
