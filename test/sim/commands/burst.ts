// Usage: burst HOST N [every DURATION] — N lifecycle events from HOST's running guests (each pauses or
// resumes by itself, in turn), DURATION apart (default 5ms): an agent's outbox under load.
import { parseDuration, usageError, type SimCommand } from "./sim-command.js";

export const burst: SimCommand = {
  name: "burst",
  usage: "burst HOST N [every DURATION]",
  run(world, args) {
    const [hostId, countText] = args;
    const count = Number(countText);
    if (hostId === undefined || !Number.isInteger(count) || count <= 0) throw usageError(this, "name a host and a positive count");
    const everyMs = args[2] === "every" ? parseDuration(args[3] ?? "") : 5;
    const host = world.requireAgent(hostId).host;
    const guests = host.sortedDomains().filter((domain) => domain.state === "running" || domain.state === "paused");
    if (guests.length === 0) throw usageError(this, `${hostId} has no running guest`);
    world.trace.line("sim", `burst of ${count} guest events on ${hostId}, ${everyMs} ms apart`);
    for (let position = 0; position < count; position += 1) {
      const domain = guests[position % guests.length]!;
      world.scheduler.after(position * everyMs, host.libvirtd, `burst ${hostId} ${position}`, () => {
        host.guestAction(domain, domain.state === "paused" ? "resume" : "pause");
      });
    }
  },
};
