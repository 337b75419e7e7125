// The real processes of a chaos run and the faults applied to them: 3 vigild replicas, agents on
// per-host libvirt test-driver nodes, and one fault proxy in front of each replica. Every replica
// and agent reaches replica X only through X's proxy (the replicas' --peers and the agents'
// --control-plane name the proxies), and the proxy names each connection's source process, so
// every link (source -> replica) can be faulted on its own. The test's own clients and observers
// talk to the replicas directly.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import Database from "better-sqlite3";
import * as grpc from "@grpc/grpc-js";
import type { HostList__Output } from "../../common/generated/vigil/v1/HostList.js";
import type { HostServiceClient } from "../../common/generated/vigil/v1/HostService.js";
import { clientConstructor } from "../../common/proto.js";
import { TestCluster, type Replica } from "../support/cluster.js";
import { startAgent, stopProcess, type RunningProcess } from "../support/processes.js";
import { testNodeUri } from "../support/test-node.js";
import { waitFor } from "../support/wait.js";
import { FaultProxy } from "./fault-proxy.js";
import type { Fault } from "./schedule.js";
import { connectingProcess } from "./socket-owner.js";

export interface WorldOptions {
  directory: string;
  hosts: number;
  vmsPerHost: number;
  log(line: string): void;
}

export interface AgentSlot {
  hostId: string;
  stateDir: string;
  libvirtUri: string;
  controlPlane: string;
  process: RunningProcess;
  incarnations: RunningProcess[];
  paused: boolean;
  down: boolean;
}

export interface JournalSeqs {
  lastSeq: number;
  lastAckedSeq: number;
}

/** A heal action: undoes one fault. */
export type Heal = () => void;

/** An error's first line (stopProcess appends the process's last output, kept in the logs anyway). */
export function firstLine(text: string): string {
  return text.split("\n", 1)[0]!;
}

export function readJournalSeqs(stateDir: string): JournalSeqs {
  const db = new Database(`${stateDir}/journal.db`, { readonly: true, fileMustExist: true });
  try {
    const value = (key: string) => Number((db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value ?? 0);
    return { lastSeq: value("last_seq"), lastAckedSeq: value("last_acked_seq") };
  } finally {
    db.close();
  }
}

export class ChaosWorld {
  readonly cluster = new TestCluster();
  readonly proxies = new Map<string, FaultProxy>();
  readonly agents: AgentSlot[] = [];
  readonly replicaIncarnations = new Map<string, RunningProcess[]>();
  private readonly pausedReplicas = new Set<string>();
  private readonly downReplicas = new Set<string>();
  private readonly hostClient = new Map<string, HostServiceClient>();

  constructor(private readonly options: WorldOptions) {}

  get replicaIds(): string[] {
    return this.cluster.replicas.map((replica) => replica.id);
  }

  get hostIds(): string[] {
    return this.agents.map((agent) => agent.hostId);
  }

  vmNames(): string[] {
    return this.agents.flatMap((agent) => Array.from({ length: this.options.vmsPerHost }, (_, index) => `${agent.hostId}-vm${index + 1}`));
  }

  async start(): Promise<void> {
    for (let index = 1; index <= 3; index++) {
      const proxy = new FaultProxy({ name: `cp${index}`, identify: (socket) => this.identify(socket) });
      await proxy.listen();
      this.proxies.set(proxy.name, proxy);
    }
    await this.cluster.start(3, {
      peerAddress: (replica) => {
        const proxy = this.proxies.get(replica.id)!;
        proxy.setTarget(replica.address);
        return proxy.address;
      },
    });
    for (const replica of this.cluster.replicas) this.replicaIncarnations.set(replica.id, [replica.process!]);
    const proxyAddresses = [...this.proxies.values()].map((proxy) => proxy.address);
    for (let index = 0; index < this.options.hosts; index++) {
      const hostId = `h${index + 1}`;
      // Each agent lists the replicas in its own rotation, so they start spread over the replicas.
      const rotated = [...proxyAddresses.slice(index % 3), ...proxyAddresses.slice(0, index % 3)];
      const slot: Omit<AgentSlot, "process" | "incarnations"> = {
        hostId,
        stateDir: `${this.options.directory}/${hostId}`,
        libvirtUri: testNodeUri(this.options.directory, hostId, index + 1, this.options.vmsPerHost),
        controlPlane: rotated.join(","),
        paused: false,
        down: false,
      };
      const agentProcess = this.launchAgent(slot);
      this.agents.push({ ...slot, process: agentProcess, incarnations: [agentProcess] });
    }
  }

  private launchAgent(slot: Pick<AgentSlot, "hostId" | "stateDir" | "libvirtUri" | "controlPlane">): RunningProcess {
    return startAgent({ hostId: slot.hostId, controlPlane: slot.controlPlane, stateDir: slot.stateDir, libvirtUri: slot.libvirtUri });
  }

  /**
   * The process behind a connection to a proxy: a replica or agent, orphanedConnection when its
   * opener is gone (a killed incarnation's sockets die with it), else "client".
   */
  private identify(socket: Socket): string {
    const candidates = new Map<number, string>();
    for (const replica of this.cluster.replicas) if (replica.process?.child.pid !== undefined) candidates.set(replica.process.child.pid, replica.id);
    for (const agent of this.agents) if (agent.process.child.pid !== undefined) candidates.set(agent.process.child.pid, agent.hostId);
    return connectingProcess(socket.remotePort ?? 0, socket.localPort ?? 0, candidates) ?? "client";
  }

  private replica(id: string): Replica {
    return this.cluster.replica(id);
  }

  private agent(hostId: string): AgentSlot {
    const found = this.agents.find((agent) => agent.hostId === hostId);
    if (found === undefined) throw new Error(`no agent ${hostId}`);
    return found;
  }

  /** Applies `fault` now; returns what heals it. */
  async apply(fault: Fault): Promise<Heal> {
    switch (fault.kind) {
      case "kill-replica": {
        const replica = this.replica(fault.replica);
        replica.process!.child.kill("SIGKILL");
        await replica.process!.exited;
        this.downReplicas.add(replica.id);
        return () => this.restartReplica(replica);
      }
      case "pause-replica": {
        this.replica(fault.replica).process!.child.kill("SIGSTOP");
        this.pausedReplicas.add(fault.replica);
        return () => this.resumeReplica(fault.replica);
      }
      case "kill-agent": {
        const agent = this.agent(fault.host);
        agent.process.child.kill("SIGKILL");
        await agent.process.exited;
        agent.down = true;
        return () => this.restartAgent(agent);
      }
      case "pause-agent": {
        const agent = this.agent(fault.host);
        agent.process.child.kill("SIGSTOP");
        agent.paused = true;
        return () => this.resumeAgent(agent);
      }
      case "link": {
        const proxy = this.proxies.get(fault.to)!;
        proxy.setMode(fault.from, fault.mode);
        // A blackhole also swallows what is in flight: reset nothing, hold everything.
        return () => proxy.setMode(fault.from, { kind: "pass" });
      }
      case "reset-link": {
        this.proxies.get(fault.to)!.reset(fault.from);
        return () => undefined;
      }
      case "transfer-primary": {
        // The answer (or its failure under other faults) does not matter; the hand-over does.
        const outcome = await this.transferPrimary(this.replica(fault.via).address);
        this.options.log(`  transfer-primary via ${fault.via}: ${outcome}`);
        return () => undefined;
      }
      case "partition": {
        const peers = this.replicaIds.filter((id) => id !== fault.replica);
        const links: [string, string][] = [...peers.map((peer): [string, string] => [peer, fault.replica]), ...peers.map((peer): [string, string] => [fault.replica, peer])];
        if (fault.agentsToo) links.push(...this.hostIds.map((host): [string, string] => [host, fault.replica]));
        for (const [from, to] of links) this.proxies.get(to)!.setMode(from, fault.mode);
        return () => {
          for (const [from, to] of links) this.proxies.get(to)!.setMode(from, { kind: "pass" });
        };
      }
    }
  }

  private restartReplica(replica: Replica): void {
    if (!this.downReplicas.delete(replica.id)) return;
    this.cluster.launch(replica);
    this.replicaIncarnations.get(replica.id)!.push(replica.process!);
  }

  private resumeReplica(id: string): void {
    if (!this.pausedReplicas.delete(id)) return;
    this.replica(id).process!.child.kill("SIGCONT");
  }

  private restartAgent(agent: AgentSlot): void {
    if (!agent.down) return;
    agent.down = false;
    agent.process = this.launchAgent(agent);
    agent.incarnations.push(agent.process);
  }

  private resumeAgent(agent: AgentSlot): void {
    if (!agent.paused) return;
    agent.paused = false;
    agent.process.child.kill("SIGCONT");
  }

  /** Undoes every fault still in force: links pass, paused processes continue, dead ones restart. */
  healEverything(): void {
    for (const proxy of this.proxies.values()) proxy.heal();
    for (const id of [...this.pausedReplicas]) this.resumeReplica(id);
    for (const replica of this.cluster.replicas) if (this.downReplicas.has(replica.id)) this.restartReplica(replica);
    for (const agent of this.agents) {
      this.resumeAgent(agent);
      this.restartAgent(agent);
    }
  }

  faultsInForce(): string[] {
    return [
      ...[...this.proxies.values()].flatMap((proxy) => proxy.faultyLinks()),
      ...[...this.pausedReplicas].map((id) => `${id} paused`),
      ...[...this.downReplicas].map((id) => `${id} down`),
      ...this.agents.filter((agent) => agent.paused).map((agent) => `${agent.hostId} paused`),
      ...this.agents.filter((agent) => agent.down).map((agent) => `${agent.hostId} down`),
    ];
  }

  private transferPrimary(address: string): Promise<string> {
    const client = this.cluster.client(address);
    return new Promise((resolve) =>
      client.TransferPrimary({ to: "" }, { deadline: Date.now() + 10_000 }, (error, status) => {
        client.close();
        resolve(error !== null ? `failed: ${error.message}` : `primary now ${status?.primary ?? "?"} (leader ${status?.leader ?? "?"})`);
      }),
    );
  }

  hosts(address: string): Promise<HostList__Output> {
    let client = this.hostClient.get(address);
    if (client === undefined) {
      client = new (clientConstructor("HostService"))(address, grpc.credentials.createInsecure()) as unknown as HostServiceClient;
      this.hostClient.set(address, client);
    }
    const service = client;
    return new Promise((resolve, reject) =>
      service.List({}, { deadline: Date.now() + 3_000 }, (error, reply) => (error !== null || reply === undefined ? reject(error ?? new Error("empty host list")) : resolve(reply))),
    );
  }

  /**
   * Waits (bounded) until the healed cluster has converged: one leader agreed by every replica and
   * holding the primary takeover, every replica applied what the leader had committed, every agent
   * connected and alive on the leader, and every event journaled before the call acknowledged.
   * Resolves with how long it took and what it waited for first; rejects naming what was still missing.
   */
  async converge(boundMs: number): Promise<{ tookMs: number; waitedFor: string }> {
    const startMs = performance.now();
    // A journal not yet created (an agent just started) has journaled nothing.
    const targets = new Map(this.agents.map((agent) => [agent.hostId, existsSync(`${agent.stateDir}/journal.db`) ? readJournalSeqs(agent.stateDir).lastSeq : 0]));
    let missing = "nothing checked yet";
    let waitedFor = "";
    try {
      await waitFor(
        async () => {
          missing = await this.convergenceGap(targets);
          if (waitedFor === "") waitedFor = missing;
          return missing === "" || undefined;
        },
        { timeoutMs: boundMs, intervalMs: 200, what: "the healed cluster to converge" },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; still missing: ${missing}`);
    }
    return { tookMs: performance.now() - startMs, waitedFor };
  }

  /** What convergence still lacks, or "" when nothing. */
  private async convergenceGap(targets: Map<string, number>): Promise<string> {
    const statuses = await Promise.all(this.cluster.replicas.map((replica) => this.cluster.status(replica.address).catch(() => null)));
    const leaders = new Set(statuses.map((status) => status?.leader ?? "?"));
    const [leader] = leaders;
    if (leaders.size !== 1 || leader === undefined || leader === "" || leader === "?") {
      return `one agreed leader (replicas say ${statuses.map((status, index) => `${this.replicaIds[index]}: ${status === null ? "no answer" : status.leader || "none"}`).join(", ")})`;
    }
    const leaderStatus = statuses[this.replicaIds.indexOf(leader)]!;
    if (leaderStatus.primary !== leader) return `the leader ${leader} to commit its primary takeover (primary is "${leaderStatus.primary}")`;
    const committed = leaderStatus.members.find((member) => member.id === leader)?.commitIndex ?? 0;
    // Asked after the leader answered: each replica must have applied what the leader had committed.
    for (const replica of this.cluster.replicas) {
      const status = await this.cluster.status(replica.address).catch(() => null);
      const applied = status?.members.find((member) => member.id === replica.id)?.appliedIndex ?? 0;
      if (applied < committed) return `${replica.id} to apply index ${committed} (at ${applied})`;
    }
    const hosts = await this.hosts(this.cluster.replica(leader).address);
    for (const hostId of this.hostIds) {
      const host = hosts.hosts.find((candidate) => candidate.id === hostId);
      if (host === undefined || !host.connected || !host.alive) return `${hostId} connected and alive on the leader ${leader} (${host === undefined ? "unknown" : `connected ${host.connected}, alive ${host.alive}`})`;
    }
    for (const agent of this.agents) {
      if (!existsSync(`${agent.stateDir}/journal.db`)) return `${agent.hostId} to create its journal`;
      const seqs = readJournalSeqs(agent.stateDir);
      if (seqs.lastAckedSeq < targets.get(agent.hostId)!) return `${agent.hostId} to have seq ${targets.get(agent.hostId)} acknowledged (at ${seqs.lastAckedSeq})`;
    }
    return "";
  }

  /** Every process's output, one file per incarnation, for a failure report. */
  writeLogs(directory: string): string {
    mkdirSync(directory, { recursive: true });
    for (const [id, incarnations] of this.replicaIncarnations) incarnations.forEach((running, index) => writeFileSync(`${directory}/${id}.${index + 1}.log`, running.output()));
    for (const agent of this.agents) agent.incarnations.forEach((running, index) => writeFileSync(`${directory}/${agent.hostId}.${index + 1}.log`, running.output()));
    return directory;
  }

  /** SIGTERM to every running agent, each bounded; one that did not stop in time was killed, and the rejection names it. */
  async stopAgents(): Promise<void> {
    const failures: string[] = [];
    for (const agent of this.agents) {
      this.resumeAgent(agent);
      if (agent.down) continue;
      await stopProcess(agent.process).catch((error: Error) => failures.push(firstLine(error.message)));
    }
    if (failures.length > 0) throw new Error(failures.join("; "));
  }

  /**
   * Stops every agent, replica and proxy. Each step is bounded (a process that ignores SIGTERM is
   * killed, a proxy that does not close is reported) and runs even when an earlier one failed;
   * rejects naming what failed.
   */
  async stop(): Promise<void> {
    for (const client of this.hostClient.values()) client.close();
    this.hostClient.clear();
    const failures: string[] = [];
    const attempt = (step: Promise<unknown>) => step.catch((error: Error) => void failures.push(error.message));
    await attempt(this.stopAgents());
    for (const id of [...this.pausedReplicas]) this.resumeReplica(id);
    await attempt(this.cluster.stopAll());
    await Promise.all([...this.proxies.values()].map((proxy) => attempt(proxy.close())));
    if (failures.length > 0) throw new Error(failures.join("; "));
  }
}
