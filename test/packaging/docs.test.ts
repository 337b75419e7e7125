// Proves the packaged configuration files and man pages document every setting and flag the built vigild and vigil-agent accept (asked from the binaries themselves), that both daemons accept the packaged files, and that a bad file fails in one line naming file, key and reason.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { repositoryRoot, run } from "./support.js";

const daemons = [
  { command: "vigild", script: "dist/controlplane/main.js", config: "vigild.yaml", man: "vigild.8.in" },
  { command: "vigil-agent", script: "dist/agent/main.js", config: "agent.yaml", man: "vigil-agent.8.in" },
] as const;

const scratch = mkdtempSync(join(tmpdir(), "vigil-docs-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function runDaemon(script: string, args: string[]) {
  return run(process.execPath, [join(repositoryRoot, script), ...args], { timeoutMs: 30_000 });
}

/** The config keys a daemon knows, from its own refusal of an unknown one. */
function knownKeys(script: string): string[] {
  const path = join(scratch, "unknown.yaml");
  writeFileSync(path, "noSuchSetting: 1\n");
  const result = runDaemon(script, ["--config", path]);
  const known = /\(known: ([^)]*)\)/.exec(result.stderr)?.[1];
  assert.ok(known !== undefined, `no list of known keys in: ${result.stderr}`);
  return known.split(", ");
}

/**
 * Keys a commented config file documents: `#key:` lines, and `#parent:` followed by `#  child:` lines
 * as parent.child, unless the parent itself is a known key (a section such as vigild's fencing).
 */
function documentedKeys(text: string, known: string[]): Set<string> {
  const keys = new Set<string>();
  let parent: string | null = null;
  for (const line of text.split("\n")) {
    const top = /^#?([A-Za-z]+):(.*)$/.exec(line);
    if (top !== null) {
      const isMappingStart = top[2]!.trim() === "" && !known.includes(top[1]!);
      parent = isMappingStart ? top[1]! : null;
      if (!isMappingStart) keys.add(top[1]!);
      continue;
    }
    const child = /^#? {2}([A-Za-z]+):/.exec(line);
    if (child !== null && parent !== null) keys.add(`${parent}.${child[1]!}`);
    else if (!line.startsWith("#  ")) parent = null;
  }
  return keys;
}

describe("packaged configuration and man pages", () => {
  for (const daemon of daemons) {
    const configText = readFileSync(join(repositoryRoot, "packaging", "config", daemon.config), "utf8");
    const manText = readFileSync(join(repositoryRoot, "packaging", "man", daemon.man), "utf8");

    it(`${daemon.config} and ${daemon.man} document every setting ${daemon.command} knows`, () => {
      const keys = knownKeys(daemon.script);
      assert.ok(keys.length >= 6, keys.join(", "));
      const inConfig = documentedKeys(configText, keys);
      assert.deepEqual(keys.filter((key) => !inConfig.has(key)), [], `settings missing from ${daemon.config}`);
      assert.deepEqual([...inConfig].filter((key) => !keys.includes(key)), [], `${daemon.config} documents settings ${daemon.command} does not know`);
      assert.deepEqual(keys.filter((key) => !manText.includes(`(\\fP${key}\\fR)`) && !manText.includes(`(${key})`)), [], `settings missing from ${daemon.man}`);
    });

    it(`${daemon.man} documents every flag of ${daemon.command} --help`, () => {
      const help = runDaemon(daemon.script, ["--help"]);
      assert.equal(help.status, 0);
      const flags = [...help.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((match) => match[1]!);
      assert.ok(flags.length >= 6, help.stdout);
      assert.deepEqual(flags.filter((flag) => !manText.includes(`\\-\\-${flag.replace(/-/g, "\\-")}`)), []);
    });

    it(`${daemon.command} accepts the packaged ${daemon.config}`, () => {
      // --help reads and checks the file first, then prints usage instead of starting.
      const result = runDaemon(daemon.script, ["--config", join(repositoryRoot, "packaging", "config", daemon.config), "--help"]);
      assert.equal(result.stderr, "");
      assert.equal(result.status, 0);
    });

    it(`${daemon.command} refuses a bad value at start with file, key and reason on one line (exit 2)`, () => {
      const path = join(scratch, `bad-${daemon.config}`);
      writeFileSync(path, `${configText}\ninsecure: "maybe"\n`.replace(/^insecure: true\n/m, ""));
      const result = runDaemon(daemon.script, ["--config", path]);
      assert.equal(result.status, 2);
      assert.equal(result.stderr, `${daemon.command}: ${path}: insecure: must be true or false\n`);
    });
  }
});
