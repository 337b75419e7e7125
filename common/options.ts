// Process options: flags override a YAML config file (DESIGN §11). Parsing is
// strict: an unknown flag or config key, or a value of the wrong type, is a
// UsageError naming the flag or the file and key, reported as one line.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { ConfigError, UsageError, errorMessage } from "./errors.js";

export interface OptionSpec {
  /**
   * "section": a structured part of the YAML file (a mapping), with no flag; the value is handed
   * over as parsed in ParsedOptions.sections and validated by its owner (e.g. vigild's `fencing`).
   */
  type: "string" | "boolean" | "section";
  description: string;
  /** Key in the YAML file; defaults to the flag name. A dotted key (`selfFence.mode`) is a nested mapping. */
  configKey?: string;
  defaultValue?: string | boolean;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface ParsedOptions {
  values: OptionValues;
  /** Section options (type "section") as parsed from the file; absent when the file has none. */
  sections: Record<string, unknown>;
  configFile: string | null;
}

export interface ConfigFileContents {
  values: OptionValues;
  sections: Record<string, unknown>;
}

/** A YAML mapping (not a list, not a scalar). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads a YAML mapping of known keys; unknown keys and wrong types are refused with file and key. */
export function readConfigFile(path: string, specs: Record<string, OptionSpec>): ConfigFileContents {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(path, "utf8"));
  } catch (error) {
    throw new ConfigError(path, "(file)", errorMessage(error).split("\n")[0]!);
  }
  const contents: ConfigFileContents = { values: {}, sections: {} };
  if (document === null || document === undefined) return contents;
  if (!isMapping(document)) throw new ConfigError(path, "(file)", "must be a YAML mapping of settings");
  const byKey = new Map(Object.entries(specs).map(([flag, spec]) => [spec.configKey ?? flag, [flag, spec] as const]));
  const readMapping = (mapping: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(mapping)) {
      const key = `${prefix}${name}`;
      const known = byKey.get(key);
      if (known === undefined) {
        // A mapping whose dotted path leads to known keys (selfFence: {mode: ...}).
        if (isMapping(value) && [...byKey.keys()].some((candidate) => candidate.startsWith(`${key}.`))) {
          readMapping(value, `${key}.`);
          continue;
        }
        throw new ConfigError(path, key, `unknown setting (known: ${[...byKey.keys()].join(", ")})`);
      }
      const [flag, spec] = known;
      if (spec.type === "section") {
        if (value !== null && !isMapping(value)) throw new ConfigError(path, key, "must be a mapping of settings");
        if (value !== null) contents.sections[flag] = value;
        continue;
      }
      if (spec.type === "boolean" && typeof value !== "boolean") throw new ConfigError(path, key, "must be true or false");
      if (spec.type === "string" && typeof value !== "string" && typeof value !== "number") throw new ConfigError(path, key, "must be a string");
      contents.values[flag] = spec.type === "string" ? String(value) : (value as boolean);
    }
  };
  readMapping(document, "");
  return contents;
}

/**
 * Parses argv against `specs`. `--config FILE` names the YAML file; when absent,
 * `defaultConfigFile` is read if it exists. Flags win over the file.
 */
export function parseOptions(argv: string[], specs: Record<string, OptionSpec>, defaultConfigFile: string): ParsedOptions {
  const allSpecs: Record<string, OptionSpec> = {
    ...specs,
    config: { type: "string", description: "YAML config file" },
    help: { type: "boolean", description: "show this help" },
  };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(flagSpecs(allSpecs).map(([flag, spec]) => [flag, { type: spec.type === "boolean" ? "boolean" : "string" }])),
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const flags = parsed.values as OptionValues;
  const configFile = typeof flags.config === "string" ? flags.config : existsSync(defaultConfigFile) ? defaultConfigFile : null;
  const fromFile = configFile === null ? { values: {}, sections: {} } : readConfigFile(configFile, specs);
  const values: OptionValues = {};
  for (const [flag, spec] of flagSpecs(allSpecs)) values[flag] = flags[flag] ?? fromFile.values[flag] ?? spec.defaultValue;
  return { values, sections: fromFile.sections, configFile };
}

/** The options that are flags (sections live only in the file). */
function flagSpecs(specs: Record<string, OptionSpec>): [string, OptionSpec][] {
  return Object.entries(specs).filter(([, spec]) => spec.type !== "section");
}

export function usageText(command: string, synopsis: string, specs: Record<string, OptionSpec>): string {
  const lines = [`usage: ${command} ${synopsis}`, "", "options:"];
  for (const [flag, spec] of flagSpecs(specs)) {
    const value = spec.type === "string" ? ` ${flag.toUpperCase().replace(/-/g, "_")}` : "";
    const fallback = spec.defaultValue === undefined ? "" : ` (default ${String(spec.defaultValue)})`;
    lines.push(`  --${flag}${value}`.padEnd(34) + spec.description + fallback);
  }
  lines.push("  --config FILE".padEnd(34) + "YAML config file; flags override it");
  return lines.join("\n");
}

export function requireString(values: OptionValues, flag: string): string {
  const value = values[flag];
  if (typeof value !== "string" || value.length === 0) throw new UsageError(`--${flag} is required`);
  return value;
}

/** Runs `main`; a UsageError prints one line and exits 2, any other startup failure exits 1. */
export function runMain(command: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`${command}: ${errorMessage(error).split("\n")[0]}\n`);
    if (process.env.VIGIL_DEBUG_STARTUP) process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(error instanceof UsageError ? 2 : 1);
  });
}
