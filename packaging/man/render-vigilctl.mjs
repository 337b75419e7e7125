// Renders vigilctl.1 from vigilctl.1.in and the built vigilctl's own help, so
// the man page lists exactly the commands and flags of the version packaged.
// Usage: node render-vigilctl.mjs VIGILCTL_JS VERSION > vigilctl.1
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const [vigilctl, version] = process.argv.slice(2);
if (!vigilctl || !version) {
  console.error("usage: node render-vigilctl.mjs VIGILCTL_JS VERSION");
  process.exit(2);
}
const help = (...args) => execFileSync(process.execPath, [vigilctl, ...args], { encoding: "utf8" }).trimEnd();

/** Help text as a roff no-fill block: backslashes and leading control characters escaped. */
function verbatim(text) {
  const lines = text.split("\n").map((line) => line.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/, "\\&$1"));
  return [".nf", ...lines, ".fi"].join("\n");
}

const overview = help("--help");
// Nouns in order of first appearance in the command list ("  cluster status   show ...").
const nouns = [...new Set(overview.split("\n").filter((line) => /^  [a-z]+ /.test(line)).map((line) => line.trim().split(" ")[0]))];
if (nouns.length === 0) throw new Error("no commands found in vigilctl --help");
const commands = nouns.map((noun) => `.SS ${noun}\n${verbatim(help("help", noun))}`).join("\n");

const template = readFileSync(new URL("vigilctl.1.in", import.meta.url), "utf8");
process.stdout.write(template.replace("@VERSION@", version).replace("@OVERVIEW@", verbatim(overview)).replace("@COMMANDS@", commands));
