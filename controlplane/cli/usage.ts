// Help text for every level: `vigilctl help`, `vigilctl NOUN --help`, `vigilctl NOUN VERB --help`.
// Rendered from the grammar table, so every command and flag is always listed.
import { type FlagUse, type VerbSpec, flagTypes, globalFlags, nounSummaries, specsUnder, usageLine, wordsAfter } from "./grammar.js";

const exitCodeLines = [
  "Exit codes:",
  "  0    success",
  "  1    the operation failed: the server returned an error, an operation's outcome was",
  "       \"failed\", a waited-for job failed or was canceled, or no endpoint was reachable",
  "  2    bad usage; nothing was sent to the server",
  "  3    --wait only: the job was rolled back (the VM is still where it was)",
  "  130  interrupted while waiting; the job itself keeps running",
];

export function topHelp(): string {
  const commandRows = specsUnder([]).map((spec): [string, string] => [commandSynopsis(spec), spec.summary]);
  return [
    "vigilctl: operate a vigil KVM high-availability cluster",
    "",
    "Usage: vigilctl [--endpoints ADDR,...] [-o table|json] NOUN VERB [ARGS] [FLAGS]",
    "",
    "Commands:",
    ...aligned(commandRows, "  "),
    "",
    "Global flags (anywhere on the line):",
    ...flagLines(globalFlags),
    "",
    "Environment:",
    "  VIGIL_ENDPOINTS  endpoints used when --endpoints is not given",
    "  VIGIL_TLS_CA, VIGIL_TLS_CERT, VIGIL_TLS_KEY  mTLS files used when --tls-* are not given",
    "",
    "Endpoints are tried in order; an endpoint without a port uses 7400. Writes sent to a",
    "follower are forwarded to the leader, so any replica will do.",
    "",
    "Output: -o table (default) prints aligned columns for people; -o json prints stable",
    "camelCase JSON for scripts (events --follow: one JSON object per line).",
    "",
    ...exitCodeLines,
    "",
    "More: vigilctl help NOUN, vigilctl NOUN VERB --help, vigilctl completion bash",
  ].join("\n");
}

/** One line naming a group's verbs, for usage errors: "vigilctl vm list|show|... (see ...)". */
export function groupUsage(prefix: readonly string[]): string {
  const words = wordsAfter(prefix).join("|");
  const path = ["vigilctl", ...prefix].join(" ");
  return `${path} ${words} ... (see ${path} --help)`;
}

export function groupHelp(prefix: readonly string[]): string {
  const summary = prefix.length === 1 ? nounSummaries.find(([noun]) => noun === prefix[0])?.[1] : undefined;
  const title = summary === undefined ? `vigilctl ${prefix.join(" ")}` : `vigilctl ${prefix.join(" ")}: ${summary}`;
  const lines = [title, "", "Usage:"];
  for (const spec of specsUnder(prefix)) {
    lines.push(`  ${usageLine(spec)}`, `      ${spec.summary}`);
  }
  lines.push("", "Global flags: --endpoints ADDR,...  -o table|json  --timeout-ms MS  --tls-ca/--tls-cert/--tls-key FILE (see vigilctl help)");
  lines.push(`Details of one command: vigilctl ${prefix.join(" ")} VERB --help`);
  return lines.join("\n");
}

export function verbHelp(spec: VerbSpec): string {
  const lines = [`Usage: ${usageLine(spec)}`, "", capitalize(spec.summary) + "."];
  if (spec.details !== undefined) lines.push("", ...spec.details);
  if (spec.flags.length > 0) lines.push("", "Flags:", ...flagLines(spec.flags));
  lines.push("", "Global flags:", ...flagLines(globalFlags));
  if (spec.flags.some((flag) => flag.name === "wait")) lines.push("", ...exitCodeLines);
  return lines.join("\n");
}

/** "vm migrate VM [flags]": the command, its arguments, and a hint that it takes flags. */
function commandSynopsis(spec: VerbSpec): string {
  const words = [...spec.path];
  for (const arg of spec.args) words.push(arg.optional === true ? `[${arg.name}]` : arg.name);
  if (spec.flags.length > 0) words.push("[flags]");
  return words.join(" ");
}

function flagLines(flags: readonly FlagUse[]): string[] {
  const rows = flags.map((flag): [string, string] => {
    const type = flagTypes[flag.name];
    const short = "short" in type ? `-${type.short}, ` : "";
    const spelled = flag.metavar === undefined ? `--${flag.name}` : `--${flag.name} ${flag.metavar}`;
    return [short + spelled, flag.help];
  });
  return aligned(rows, "  ");
}

function aligned(rows: ReadonlyArray<readonly [string, string]>, indent: string): string[] {
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
