// Usage: expect WHAT... — asserts the state now; a false expectation fails the scenario.
//   expect leader REPLICA|none          expect primary REPLICA|none (may command agents now)
//   expect vm VM STATE [on HOST]        (replicated state, on the replica most caught up)
//   expect domain HOST VM STATE         (what libvirt says on HOST)
//   expect agent HOST connected|disconnected
//   expect outbox HOST N                expect highest-term HOST N
//   expect applied HOST all             (every running replica applied every event HOST journaled, once)
//   expect converged                    (every running replica applied the same index)
//   expect host HOST LIVENESS           (committed liveness: alive, suspect, dead, fencing, fenced, fence-failed)
//   expect ha VM STATE                  (HA state: none, restarting, pending, failed)
//   expect skip-trace VM none|live|orphaned
//   expect fences HOST N                (power-off attempts HOST's fence device received)
import { CommandError, usageError, type SimCommand } from "./sim-command.js";
import type { World } from "../world.js";

/** A false expectation: the scenario's claim about the cluster does not hold. */
export class ExpectationFailed extends Error {
  override name = "ExpectationFailed";
}

function check(condition: boolean, what: string, actual: string): void {
  if (!condition) throw new ExpectationFailed(`expected ${what}, but ${actual}`);
}

/** The running replica that applied the most (the one a linearizable read would agree with). */
function mostCaughtUp(world: World) {
  let best: { node: ReturnType<World["requireReplica"]>; applied: number } | null = null;
  for (const node of world.replicas.values()) {
    const process = node.liveProcess();
    if (process === null) continue;
    const applied = process.replica.stateMachine.reader.appliedIndex();
    if (best === null || applied > best.applied) best = { node, applied };
  }
  if (best === null) throw new ExpectationFailed("expected a running replica, but none runs");
  return best.node.liveProcess()!;
}

export const expect: SimCommand = {
  name: "expect",
  usage: "expect leader|primary|vm|domain|agent|outbox|highest-term|applied|converged|host|ha|skip-trace|fences ...",
  run(world, args) {
    const [what, first, second, third, fourth] = args;
    switch (what) {
      case "leader": {
        const leader = world.currentLeader() ?? "none";
        return check(leader === first, `leader ${first}`, `the leader is ${leader}`);
      }
      case "primary": {
        const commanding = world.checkedReplicas().filter((replica) => replica.alive() && replica.mayCommand()).map((replica) => replica.id);
        const primary = commanding[0] ?? "none";
        return check(primary === first, `primary ${first}`, `the primary is ${primary}`);
      }
      case "vm": {
        if (first === undefined || second === undefined) throw usageError(this, "expect vm VM STATE [on HOST]");
        const vm = mostCaughtUp(world).replica.stateMachine.reader.findVms(first)[0];
        check(vm !== undefined, `vm ${first}`, "it is not known");
        check(vm!.state === second, `vm ${first} ${second}`, `it is ${vm!.state} (${vm!.reason})`);
        if (third === "on") check(vm!.host === fourth, `vm ${first} on ${fourth}`, `it is on ${vm!.host}`);
        return;
      }
      case "domain": {
        if (first === undefined || second === undefined || third === undefined) throw usageError(this, "expect domain HOST VM STATE");
        const domain = world.requireAgent(first).host.byNameOrUuid(second);
        return check(domain?.state === third, `domain ${second} ${third} on ${first}`, `it is ${domain?.state ?? "undefined"}`);
      }
      case "agent": {
        const agent = world.requireAgent(first ?? "");
        const connected = agent.process?.link.isConnected() === true && agent.slot.isAlive();
        return check((second === "connected") === connected, `agent ${first} ${second}`, `it is ${connected ? "connected" : "disconnected"}`);
      }
      case "outbox": {
        const outbox = world.requireAgent(first ?? "").journalFacts().outbox;
        return check(outbox === Number(second), `outbox of ${first} holding ${second}`, `it holds ${outbox}`);
      }
      case "highest-term": {
        const term = world.requireAgent(first ?? "").journalFacts().highestTerm;
        return check(term === Number(second), `${first}'s highest term ${second}`, `it is ${term}`);
      }
      case "applied": {
        const agent = world.requireAgent(first ?? "");
        const lastSeq = agent.journalFacts().lastSeq;
        for (const replica of world.checkedReplicas()) {
          if (!replica.alive()) continue;
          const sequences = replica.hostSequences().get(agent.hostId);
          check(sequences?.appliedSeq === lastSeq && sequences.eventsApplied === lastSeq, `${replica.id} to have applied all ${lastSeq} events of ${agent.hostId} once`, `it applied through ${sequences?.appliedSeq ?? 0} with ${sequences?.eventsApplied ?? 0} applications`);
        }
        return;
      }
      case "host": {
        const host = mostCaughtUp(world).replica.stateMachine.reader.host(first ?? "");
        check(host !== undefined, `host ${first}`, "it is not known");
        return check(host!.liveness === second, `host ${first} ${second}`, `it is ${host!.liveness} (${host!.livenessReason})`);
      }
      case "ha": {
        const vm = mostCaughtUp(world).replica.stateMachine.reader.findVms(first ?? "")[0];
        check(vm !== undefined, `vm ${first}`, "it is not known");
        const haState = vm!.haState === "" ? "none" : vm!.haState;
        return check(haState === second, `vm ${first} HA state ${second}`, `it is ${haState} (${vm!.haReason})`);
      }
      case "skip-trace": {
        const reader = mostCaughtUp(world).replica.stateMachine.reader;
        const vm = reader.findVms(first ?? "")[0];
        check(vm !== undefined, `vm ${first}`, "it is not known");
        const entry = reader.skipTraceOf(vm!.uuid);
        const state = entry === undefined ? "none" : entry.orphanedAtMs === null ? "live" : "orphaned";
        return check(state === second, `vm ${first} skip-trace ${second}`, `it is ${state}${entry ? ` (${entry.operation}, term ${entry.term})` : ""}`);
      }
      case "fences": {
        const device = world.fences.get(first ?? "");
        check(device !== undefined, `a fence device for ${first}`, "there is none");
        return check(device!.records.length === Number(second), `${second} fence attempts on ${first}`, `there were ${device!.records.length}`);
      }
      case "converged": {
        const applied = world.checkedReplicas().filter((replica) => replica.alive()).map((replica) => `${replica.id}=${replica.appliedIndex()}`);
        const indexes = new Set(applied.map((entry) => entry.split("=")[1]));
        return check(indexes.size === 1, "every running replica at the same applied index", `they are at ${applied.join(" ")}`);
      }
      default:
        throw new CommandError(`unknown expectation ${what ?? "(none)"}; usage: ${this.usage}`);
    }
  },
};
