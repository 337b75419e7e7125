// Usage: partition A B | C D [| ...] — only nodes in the same group talk; unlisted nodes reach all.
import { usageError, type SimCommand } from "./sim-command.js";

export const partition: SimCommand = {
  name: "partition",
  usage: "partition NODE... | NODE... [| NODE...]",
  run(world, args) {
    const groups: string[][] = [[]];
    for (const word of args) {
      if (word === "|") groups.push([]);
      else groups.at(-1)!.push(word);
    }
    if (groups.length < 2 || groups.some((group) => group.length === 0)) throw usageError(this, "give at least two non-empty groups");
    for (const node of groups.flat()) if (world.network.slot(node) === undefined) throw usageError(this, `unknown node ${node}`);
    world.network.partition(groups);
    world.counts.partitions += 1;
    world.trace.line("net", `partition ${world.network.describe()}`);
  },
};
