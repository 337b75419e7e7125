// `vigilctl completion bash`: a bash completion script generated from the grammar table.
// It completes nouns, verbs, fixed-choice arguments (on|off) and flags with their fixed
// values. It makes no RPC, so host and VM names are not completed.
// Load it with: source <(vigilctl completion bash)
import { type FlagUse, flagTypes, globalFlags, nounSummaries, specsUnder, verbSpecs, wordsAfter } from "./grammar.js";

export function completionScript(): string {
  return [
    "# bash completion for vigilctl. Load with: source <(vigilctl completion bash)",
    "_vigilctl() {",
    '  local line="${COMP_LINE:0:COMP_POINT}"',
    "  local -a words=()",
    '  read -ra words <<< "$line"',
    '  local cur=""',
    '  if [[ "$line" != *" " ]]; then cur="${words[${#words[@]}-1]}"; unset "words[${#words[@]}-1]"; fi',
    '  local prev="${words[${#words[@]}-1]}"',
    "  local -a pos=()",
    "  local i word skip=0",
    "  for ((i = 1; i < ${#words[@]}; i++)); do",
    '    word="${words[i]}"',
    "    if ((skip)); then skip=0; continue; fi",
    '    case "$word" in',
    `      ${valueFlagPattern()}) skip=1 ;;`,
    "      -*) ;;",
    '      *) pos+=("$word") ;;',
    "    esac",
    "  done",
    '  case "$prev" in',
    ...flagValueCases(),
    "  esac",
    '  local candidates=""',
    '  case "${#pos[@]}:${pos[*]}" in',
    ...wordCases(),
    "  esac",
    '  if [[ "$cur" == -* ]]; then',
    `    candidates="${globalFlags.map(spell).join(" ")}"`,
    '    case "${pos[*]}" in',
    ...flagCases(),
    "    esac",
    "  fi",
    '  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))',
    "}",
    "complete -F _vigilctl vigilctl",
    "",
  ].join("\n");
}

function spell(flag: FlagUse): string {
  return `--${flag.name}`;
}

/** Flags whose value is the next word, so the completer skips that word. */
function valueFlagPattern(): string {
  const names: string[] = [];
  for (const [name, type] of Object.entries(flagTypes)) {
    if (type.type !== "string") continue;
    names.push(`--${name}`);
    const short: string | undefined = "short" in type ? type.short : undefined;
    if (short !== undefined) names.push(`-${short}`);
  }
  return names.join("|");
}

function flagValueCases(): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  const flags = [...globalFlags, ...verbSpecs.flatMap((spec) => spec.flags)];
  for (const flag of flags) {
    if (flag.metavar === undefined || seen.has(flag.name)) continue;
    seen.add(flag.name);
    const pattern = flag.name === "output" ? "-o|--output" : `--${flag.name}`;
    // A value with no fixed set (a host, a number) gets no suggestions rather than file names.
    const values = flag.choices === undefined ? "" : flag.choices.join(" ");
    lines.push(`    ${pattern}) COMPREPLY=($(compgen -W "${values}" -- "$cur")); return ;;`);
  }
  return lines;
}

/** Candidates for the next positional word, keyed by "COUNT:WORDS SO FAR". */
function wordCases(): string[] {
  const nouns = [...nounSummaries.map(([noun]) => noun), "help", "completion"];
  const lines = [`    "0:") candidates="${nouns.join(" ")}" ;;`];
  lines.push(`    "1:help") candidates="${nounSummaries.map(([noun]) => noun).join(" ")}" ;;`);
  lines.push(`    "1:completion") candidates="bash" ;;`);
  const groups = new Set<string>();
  for (const spec of verbSpecs) {
    for (let length = 1; length < spec.path.length; length += 1) groups.add(spec.path.slice(0, length).join(" "));
  }
  for (const group of groups) {
    const prefix = group.split(" ");
    lines.push(`    "${prefix.length}:${group}") candidates="${wordsAfter(prefix).join(" ")}" ;;`);
    if (prefix.length === 1) lines.push(`    "2:help ${group}") candidates="${wordsAfter(prefix).join(" ")}" ;;`);
  }
  for (const spec of verbSpecs) {
    spec.args.forEach((arg, index) => {
      if (arg.choices === undefined) return;
      // The argument at `index` is being typed once the path and `index` earlier arguments are.
      const count = spec.path.length + index;
      const pattern = index === 0 ? `"${count}:${spec.path.join(" ")}"` : `"${count}:${spec.path.join(" ")} "*`;
      lines.push(`    ${pattern}) candidates="${arg.choices.join(" ")}" ;;`);
    });
  }
  return lines;
}

function flagCases(): string[] {
  return specsUnder([])
    .filter((spec) => spec.flags.length > 0)
    .map((spec) => {
      const path = spec.path.join(" ");
      return `      "${path}"|"${path} "*) candidates="$candidates ${spec.flags.map(spell).join(" ")}" ;;`;
    });
}
