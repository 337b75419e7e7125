// The operator: calls the production gRPC handlers of one replica (as vigilctl would, at the leader
// unless told otherwise), logs each call and its answer, and holds every call to a bound
// (invariant 6: every wait is bounded and visible).
import * as grpc from "@grpc/grpc-js";
import { Violation } from "./invariants.js";
import type { ReplicaProcess } from "./replica-node.js";
import type { World } from "./world.js";

/** No operator call may stay unanswered longer than this (the longest production bound is a shutdown: 1 h + 30 s). */
export const operatorCallBoundMs = 10 * 60_000;

interface PendingCall {
  id: number;
  description: string;
  /** The replica called, and the leader it forwarded to: the call fails if either dies. */
  replicas: string[];
  startedAtMs: number;
  settle(answer: string): void;
}

export type Handler<Response> = (process: ReplicaProcess, callback: grpc.sendUnaryData<Response>) => void;

export class Operator {
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 1;
  callsAnswered = 0;

  constructor(private readonly world: World) {}

  /**
   * Calls `handler` on `via` (or the current leader). Logs the call and, when it comes, the answer
   * `describe` makes of the response.
   */
  call<Response>(description: string, via: string | null, handler: Handler<Response>, describe: (response: Response) => string, scope: "any" | "leader-only" = "any"): void {
    const world = this.world;
    const target = via ?? world.currentLeader();
    if (target === null) {
      world.trace.line("op", `${description} => UNAVAILABLE: no replica leads`);
      return;
    }
    const node = world.replica(target);
    let process = node?.liveProcess() ?? null;
    let forwardedTo: string | null = null;
    if (node === undefined || process === null) {
      world.trace.line("op", `${description} via ${target} => UNAVAILABLE: ${target} is not running`);
      return;
    }
    if (scope === "leader-only" && !process.replica.isLeader()) {
      // controlplane/api/leader-forwarding.ts: a follower forwards a leader-only call to the leader's
      // port with its own gRPC client, which the simulator cannot run; the forward is played here.
      const leader = process.replica.leaderId();
      const leaderProcess = leader === null ? null : (world.replica(leader)?.liveProcess() ?? null);
      if (leader === null || leaderProcess === null || !world.network.reachable(target, leader)) {
        world.trace.line("op", `${description} via ${target} => UNAVAILABLE: ${leader === null ? "no leader is known; retry shortly" : `the leader ${leader} cannot be reached (via ${target})`}`);
        return;
      }
      world.trace.line("op", `${description}: ${target} forwards it to the leader ${leader}`);
      process = leaderProcess;
      forwardedTo = leader;
    }
    const id = this.nextId++;
    world.trace.line("op", `${description} via ${target}`);
    let settled = false;
    const call: PendingCall = {
      id,
      description,
      replicas: forwardedTo === null ? [target] : [target, forwardedTo],
      startedAtMs: world.scheduler.nowMs,
      settle: (answer) => {
        if (settled) return;
        settled = true;
        this.pending.delete(id);
        this.callsAnswered += 1;
        world.trace.line("op", `${description} => ${answer}`);
      },
    };
    this.pending.set(id, call);
    handler(process, (error, response) => {
      if (error !== null) call.settle(`${grpc.status[error.code ?? grpc.status.UNKNOWN]}: ${error.details ?? ""}`);
      else call.settle(response === undefined || response === null ? "OK" : describe(response));
    });
  }

  /** A replica process died: its open calls fail as the client's connection would. */
  replicaDied(replica: string): void {
    for (const call of [...this.pending.values()]) if (call.replicas.includes(replica)) call.settle(`UNAVAILABLE: the connection to ${replica} was lost`);
  }

  /** Every open call is within its bound. */
  checkBounded(nowMs: number): void {
    for (const call of this.pending.values()) {
      if (nowMs - call.startedAtMs > operatorCallBoundMs) {
        throw new Violation("every wait is bounded", `operator call "${call.description}" to ${call.replicas.join(" via ")} unanswered for ${nowMs - call.startedAtMs} ms`);
      }
    }
  }

  openCalls(): number {
    return this.pending.size;
  }
}
