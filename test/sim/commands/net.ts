// Usage: net latency MIN MAX | net drop P | net duplicate P | net calm — link faults. Latency applies to
// everything; drops and duplicates to Raft datagrams only (connections are TCP: they break instead).
import { calmLinks } from "../network.js";
import { usageError, type SimCommand } from "./sim-command.js";

function probability(command: SimCommand, text: string | undefined): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw usageError(command, `"${text}" is not a probability in [0, 1]`);
  return value;
}

export const net: SimCommand = {
  name: "net",
  usage: "net latency MIN_MS MAX_MS | net drop P | net duplicate P | net calm",
  run(world, args) {
    const faults = world.network.faults;
    switch (args[0]) {
      case "latency": {
        const low = Number(args[1]);
        const high = Number(args[2]);
        if (!Number.isInteger(low) || !Number.isInteger(high) || low < 0 || high < low) throw usageError(this, "latency takes whole milliseconds MIN ≤ MAX");
        faults.latencyMinMs = low;
        faults.latencyMaxMs = high;
        break;
      }
      case "drop":
        faults.dropProbability = probability(this, args[1]);
        break;
      case "duplicate":
        faults.duplicateProbability = probability(this, args[1]);
        break;
      case "calm":
        world.network.faults = { ...calmLinks };
        break;
      default:
        throw usageError(this, `unknown setting ${args[0] ?? "(none)"}`);
    }
    const now = world.network.faults;
    world.trace.line("net", `links: latency ${now.latencyMinMs}-${now.latencyMaxMs} ms, drop ${now.dropProbability}, duplicate ${now.duplicateProbability}`);
  },
};
