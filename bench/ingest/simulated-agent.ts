// One simulated vigil-agent on the wire, shared by the swarm processes (swarm.ts: ingest, scale)
// and the HA benchmark (ha.ts): a real AgentGateway.Connect stream doing what vigil-agent does:
// Hello with the host's capacity, wait for Welcome, an inventory of its VMs, then lifecycle
// events with sequence numbers (at most `windowEvents` unacknowledged) and/or heartbeats. With
// `commands`, it also executes the control plane's start commands as agent/executor.ts does: a
// commandResult (succeeded, the domain running) and the lifecycle event libvirt would raise.
import * as grpc from "@grpc/grpc-js";
import type { AgentGatewayClient } from "../../common/generated/vigil/v1/AgentGateway.js";
import type { AgentMessage } from "../../common/generated/vigil/v1/AgentMessage.js";
import type { Command__Output } from "../../common/generated/vigil/v1/Command.js";
import type { ControlMessage__Output } from "../../common/generated/vigil/v1/ControlMessage.js";

export interface SimulatedAgentSettings {
  vmsPerAgent: number;
  windowEvents: number;
  runId: string;
  /** Times the agent opens its stream again when it fails before its inventory is acknowledged. */
  reconnectAttempts?: number;
  /**
   * After the inventory is acknowledged too, a failed stream is opened again (after a pause) and
   * every unacknowledged event resent, as vigil-agent does (DESIGN §4): a leader change then costs
   * the benchmark a pause, not its agents.
   */
  resendOnReconnect?: boolean;
}

/** How a simulated agent answers commands; without it, commands are ignored. */
export interface CommandExecution {
  /** Delay before a start's result, as libvirt's domain start would take (0: the control plane alone). */
  startDelayMs: number;
  /** Called once the lifecycle event saying `vmUuid` runs here is acknowledged (committed). */
  onStartCommitted(vmUuid: string, hostId: string): void;
  onRefused(command: Command__Output, why: string): void;
}

const vmMemoryBytes = 67108864;
export const simulatedHostCapacity = { cpus: 32, memoryBytes: 256 * 2 ** 30 };

export function simulatedHostId(agent: number): string {
  return `bench-h${agent}`;
}

/** VM `vm` of simulated host `agent`: its uuid encodes both, so any host can start it (shared definitions). */
export function simulatedDomain(agent: number, vm: number, running: boolean) {
  const uuid = `${String(agent).padStart(8, "0")}-0000-4000-8000-${String(vm).padStart(12, "0")}`;
  return { name: `bench-h${agent}-vm${vm}`, uuid, state: running ? "running" : "paused", reason: running ? "unpaused" : "user", vcpus: 1, memoryBytes: vmMemoryBytes, persistent: true };
}

/** The domain a simulated uuid names (the inverse of simulatedDomain), or null for a foreign uuid. */
export function simulatedDomainOf(uuid: string): ReturnType<typeof simulatedDomain> | null {
  const match = /^(\d{8})-0000-4000-8000-(\d{12})$/.exec(uuid);
  return match === null ? null : simulatedDomain(Number(match[1]), Number(match[2]), true);
}

export class SimulatedAgent {
  private seq = 0;
  private acked = 0;
  private readonly emittedAt = new Map<number, number>();
  /** Events sent and not yet acknowledged, by sequence (resent on a new stream with resendOnReconnect). */
  private readonly unacked = new Map<number, Omit<NonNullable<AgentMessage["event"]>, "seq" | "atMs">>();
  private reopenTimer: NodeJS.Timeout | null = null;
  /** Streams opened again after a failure (resendOnReconnect). */
  reconnects = 0;
  /** Lifecycle events of executed starts by sequence, until acknowledged. */
  private readonly startedBySeq = new Map<number, string>();
  private call: grpc.ClientDuplexStream<AgentMessage, ControlMessage__Output> | null = null;
  private nextVm = 0;
  welcomed = false;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private inventoryAckedResolve: (() => void) | null = null;
  /** Resolves once the inventory (seq 1) is acknowledged, or the stream failed. */
  readonly inventoryAcked = new Promise<void>((resolve) => (this.inventoryAckedResolve = resolve));
  readonly hostId: string;

  constructor(
    private readonly index: number,
    private readonly settings: SimulatedAgentSettings,
    private readonly client: AgentGatewayClient,
    private readonly onAck: (latenciesMs: number[]) => void,
    private readonly onError: (message: string) => void,
    private readonly commands: CommandExecution | null = null,
  ) {
    this.hostId = simulatedHostId(index);
  }

  /**
   * Hello, Welcome, inventory. With `reconnectAttempts`, a stream that fails before its inventory
   * is acknowledged is opened again after a pause and the inventory resent, as vigil-agent does.
   */
  connect(attemptsLeft = 1 + (this.settings.reconnectAttempts ?? 0)): Promise<void> {
    const call = this.client.Connect();
    this.call = call;
    return new Promise((resolve) => {
      call.on("data", (message: ControlMessage__Output) => {
        if (message.body === "welcome") {
          this.welcomed = true;
          if (this.seq === 0) this.send({ inventory: { domains: Array.from({ length: this.settings.vmsPerAgent }, (_, vm) => simulatedDomain(this.index, vm, true)) } });
          else this.resend(message.welcome!.appliedSeq);
          resolve();
        } else if (message.body === "ack") {
          this.acknowledge(message.ack!.ackedSeq);
        } else if (message.body === "command") {
          this.execute(message.command!);
        }
      });
      call.on("error", (error: Error) => {
        if (this.call !== call) return; // closed on purpose
        this.onError(`agent ${this.index}: ${error.message}`);
        this.welcomed = false;
        if (attemptsLeft > 1 && this.acked === 0) {
          setTimeout(() => void this.connect(attemptsLeft - 1).then(resolve), 1_000);
          return;
        }
        if (this.settings.resendOnReconnect === true && this.acked > 0) {
          this.call = null;
          this.reopenTimer = setTimeout(() => {
            this.reopenTimer = null;
            this.reconnects += 1;
            void this.connect(1);
          }, 1_000);
        }
        this.inventoryAckedResolve?.();
        resolve();
      });
      call.write({
        hello: { hostId: this.hostId, bootId: this.settings.runId, sessionId: this.settings.runId, agentVersion: "bench", lastAckedSeq: this.acked, highestTerm: 0, capacity: simulatedHostCapacity },
      });
    });
  }

  private send(body: Omit<NonNullable<AgentMessage["event"]>, "seq" | "atMs">): number {
    this.seq += 1;
    this.emittedAt.set(this.seq, performance.now());
    this.unacked.set(this.seq, body);
    this.call!.write({ event: { seq: this.seq, atMs: Date.now(), ...body } });
    return this.seq;
  }

  /** A new stream's Welcome says what is applied: that much is acknowledged, the rest is sent again in order. */
  private resend(appliedSeq: number): void {
    if (appliedSeq > this.acked) this.acknowledge(appliedSeq);
    for (const [seq, body] of this.unacked) this.call!.write({ event: { seq, atMs: Date.now(), ...body } });
  }

  private acknowledge(ackedSeq: number): void {
    const now = performance.now();
    const latencies: number[] = [];
    for (let seq = this.acked + 1; seq <= ackedSeq; seq++) {
      const at = this.emittedAt.get(seq);
      if (at !== undefined) latencies.push(now - at);
      this.emittedAt.delete(seq);
      this.unacked.delete(seq);
      const started = this.startedBySeq.get(seq);
      if (started !== undefined) {
        this.startedBySeq.delete(seq);
        this.commands?.onStartCommitted(started, this.hostId);
      }
    }
    this.acked = Math.max(this.acked, ackedSeq);
    if (this.acked >= 1) this.inventoryAckedResolve?.();
    this.onAck(latencies);
  }

  /** A start: the result, then the lifecycle event (agent/executor.ts, agent/events.ts). Anything else is refused. */
  private execute(command: Command__Output): void {
    const commands = this.commands;
    if (commands === null) return;
    const domain = command.action === "start" ? simulatedDomainOf(command.start!.vmUuid) : null;
    if (domain === null) {
      commands.onRefused(command, command.action === "start" ? "unknown domain" : `action ${command.action ?? "(none)"} is not simulated`);
      this.send({ commandResult: { commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_FAILED", error: "not simulated by the benchmark agent" } });
      return;
    }
    const reply = () => {
      if (this.call === null) return;
      const running = { ...domain, reason: "booted" };
      this.send({ commandResult: { commandId: command.commandId, term: command.term, outcome: "COMMAND_OUTCOME_SUCCEEDED", error: "", domain: running } });
      this.startedBySeq.set(this.send({ lifecycle: { domain: running, event: "started", detail: "booted" } }), domain.uuid);
    };
    if (commands.startDelayMs > 0) setTimeout(reply, commands.startDelayMs);
    else reply();
  }

  /** Sends a heartbeat every `intervalMs` from now on, starting at a random point in the interval. */
  startHeartbeats(intervalMs: number, onSent: () => void): void {
    const beat = () => {
      if (this.call === null) return;
      this.heartbeat();
      onSent();
    };
    this.heartbeatTimer = setTimeout(() => {
      beat();
      this.heartbeatTimer = setInterval(beat, intervalMs);
    }, Math.random() * intervalMs);
  }

  private heartbeat(): void {
    const vms = this.settings.vmsPerAgent;
    this.call?.write({ heartbeat: { sentAtMs: Date.now(), stats: { cpus: simulatedHostCapacity.cpus, memoryBytes: simulatedHostCapacity.memoryBytes, freeMemoryBytes: simulatedHostCapacity.memoryBytes / 2, memoryProvisionedBytes: vms * vmMemoryBytes, load: 1.5, vcpusProvisioned: vms, vmCount: vms } } });
  }

  /** Emits lifecycle events while the window has room; returns how many. */
  emit(budget: number): number {
    let sent = 0;
    while (this.call !== null && this.welcomed && sent < budget && this.seq - this.acked < this.settings.windowEvents) {
      const vm = this.nextVm % this.settings.vmsPerAgent;
      const running = Math.floor(this.nextVm / this.settings.vmsPerAgent) % 2 === 1;
      this.nextVm += 1;
      this.send({ lifecycle: { domain: simulatedDomain(this.index, vm, running), event: running ? "resumed" : "suspended", detail: running ? "unpaused" : "paused" } });
      sent += 1;
    }
    return sent;
  }

  /** Ends the stream and the heartbeats: to the control plane the host went silent. */
  close(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    const call = this.call;
    this.call = null;
    call?.cancel();
  }
}
