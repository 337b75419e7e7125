// The shape of a scenario command (one handler per file in this folder) and the helpers they share.
// A cmdlist line is `NAME ARG...`; `#` starts a comment. Handlers validate their arguments and
// throw CommandError with their usage when a line is wrong.
import type { World } from "../world.js";

export interface SimCommand {
  readonly name: string;
  /** One line: the syntax, then what it does. */
  readonly usage: string;
  run(world: World, args: readonly string[]): Promise<void> | void;
}

/** A cmdlist line the handler cannot run: bad arguments or an unknown name. */
export class CommandError extends Error {
  override name = "CommandError";
}

export function usageError(command: SimCommand, why: string): CommandError {
  return new CommandError(`${why}; usage: ${command.usage}`);
}

/** "250ms", "5s", "1.5s", "2m" → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (match === null) throw new CommandError(`"${text}" is not a duration like 250ms, 5s or 2m`);
  const value = Number(match[1]);
  const unitMs = match[2] === "ms" ? 1 : match[2] === "s" ? 1000 : 60_000;
  return Math.round(value * unitMs);
}

/** Splits off a trailing `via REPLICA` (which replica an operator call goes to). */
export function takeVia(args: readonly string[]): { args: string[]; via: string | null } {
  const position = args.indexOf("via");
  if (position === -1) return { args: [...args], via: null };
  const via = args[position + 1];
  if (via === undefined) throw new CommandError("via needs a replica id");
  return { args: [...args.slice(0, position), ...args.slice(position + 2)], via };
}

export function onOff(command: SimCommand, text: string | undefined): boolean {
  if (text === "on") return true;
  if (text === "off") return false;
  throw usageError(command, `expected on or off, got ${text ?? "nothing"}`);
}
