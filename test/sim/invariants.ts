// The invariants of DESIGN §10, checked while the simulation runs. Cheap checks run after every
// event (or at the moment their fact appears); those that read every replica's SQLite run after
// every scenario command or random action and every `stateCheckIntervalMs` of simulated time.
//  1. At most one leader and one primary takeover per term; at no instant may two replicas command
//     agents (lead, hold the lease, and be past the takeover wait) — duty periods never overlap;
//     an agent never admits a command whose term is below the highest it has seen.
//  2. No VM executes on two hosts at once. A libvirt migration's inactive side does not count: the
//     destination's incoming QEMU until Finish (paused, its vCPUs never ran, its disks inactive) and
//     the source's QEMU between Finish and Confirm (paused by the switch-over, disks handed over,
//     about to be killed). That overlap is libvirt's own hand-over of one guest, not vigil running it
//     twice; at every instant exactly one side may execute (migration.ts inactiveOn). Anything else
//     executing the VM elsewhere at the same time, including a second QEMU started beside a
//     migration, is a violation.
//  3. No acknowledged event is lost, none is applied twice: on every replica, each host's
//     events_applied equals its applied_seq, and once quiet, applied_seq reaches every ack.
//  4. Committed state is kept: every replica applies the same entry at each index (a hash chain
//     over applied entries, shared by all replicas), across crashes, snapshots and minority loss.
//  5. No fencing in maintenance or grace windows: every power-off a simulated fence device
//     receives (fence.ts) is checked against committed maintenance and the commanding primary's
//     takeover grace (the connectivity threshold is the pure decision's, unit-tested).
//  6. Every wait is bounded: operator calls answer within their bound; agents are welcomed, and
//     their outboxes drain, within a bound once the cluster is healed (liveness).
import type { Command__Output } from "../../common/generated/vigil/v1/Command.js";
import { Hasher } from "../raft/sim-hash.js";
import type { FenceRecord } from "./fence.js";
import { executingStates, type SimHost } from "./hypervisor.js";

export class Violation extends Error {
  override name = "Violation";

  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

/** The SQLite-reading checks also run this often in simulated time (besides after every command or action). */
export const stateCheckIntervalMs = 1_000;

/** What the checker needs to read from a replica, without knowing the simulator's classes. */
export interface CheckedReplica {
  readonly id: string;
  alive(): boolean;
  /** Believes it leads (cheap: the Raft role only). */
  leads(): boolean;
  /** Leads, holds the lease and is past the takeover wait: may command agents now. */
  mayCommand(): boolean;
  /** Milliseconds (true time) until its lease runs out, for the violation's detail. */
  leaseRemainingMs(): number | null;
  appliedIndex(): number;
  /** Stored entries in (afterIndex, throughIndex], or null when compacted below afterIndex + 1. */
  appliedEntries(afterIndex: number, throughIndex: number): { index: number; term: number; data: Uint8Array }[] | null;
  /** For each host: applied_seq and events_applied in this replica's state. */
  hostSequences(): Map<string, { appliedSeq: number; eventsApplied: number }>;
}

export interface CheckedAgent {
  readonly hostId: string;
  journal(): { lastSeq: number; lastAckedSeq: number; highestTerm: number; outbox: number };
}

interface ReplicaChain {
  hashedThrough: number;
  hash: number | null;
}

export class Checker {
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly takeoverOfTerm = new Map<number, string>();
  private readonly chainAt = new Map<number, { term: number; hash: number }>();
  private readonly chains = new Map<string, ReplicaChain>();
  /** Highest sequence each host's agent was told is committed (acks and welcomes). */
  readonly ackedSeq = new Map<string, number>();
  readonly fenceRecords: FenceRecord[] = [];
  /** What the run exercised (the random mode prints averages). */
  readonly counts = { leaders: 0, commandsAdmitted: 0, commandsRefused: 0 };

  // ---- 1. terms, primaries, duties, fencing tokens ----

  leaderElected(replica: string, term: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known !== undefined && known !== replica) throw new Violation("one leader per term", `${known} and ${replica} both led term ${term}`);
    if (known === undefined) this.counts.leaders += 1;
    this.leaderOfTerm.set(term, replica);
  }

  takeoverApplied(term: number, replica: string): void {
    const known = this.takeoverOfTerm.get(term);
    if (known !== undefined && known !== replica) throw new Violation("one primary per term", `${known} and ${replica} both took over in term ${term}`);
    this.takeoverOfTerm.set(term, replica);
  }

  /** After every event: at most one replica may command agents. */
  checkDuties(replicas: readonly CheckedReplica[]): void {
    // Only a leader may command: with one leader or none (nearly always) there is nothing to compare.
    const leaders = replicas.filter((replica) => replica.alive() && replica.leads());
    if (leaders.length < 2) return;
    let commanding: CheckedReplica | null = null;
    for (const replica of leaders) {
      if (!replica.mayCommand()) continue;
      if (commanding !== null) {
        throw new Violation(
          "duty periods never overlap",
          `${commanding.id} (lease ${commanding.leaseRemainingMs()} ms left) and ${replica.id} (lease ${replica.leaseRemainingMs()} ms left) may both command agents`,
        );
      }
      commanding = replica;
    }
  }

  /** An agent handled a command: if the journal admitted it, its term must be the highest seen. */
  commandHandled(hostId: string, command: Command__Output, admission: { admitted: boolean; highestTermBefore: number }): void {
    if (!admission.admitted) {
      this.counts.commandsRefused += 1;
      return;
    }
    this.counts.commandsAdmitted += 1;
    if (command.term < admission.highestTermBefore) {
      throw new Violation(
        "an agent never executes a command below the highest term it has seen",
        `${hostId} admitted command ${command.commandId} (${command.action}) of term ${command.term} after seeing term ${admission.highestTermBefore}`,
      );
    }
  }

  // ---- 2. one host per VM ----

  checkDomains(hosts: readonly SimHost[]): void {
    const executingOn = new Map<string, string>();
    for (const host of hosts) {
      for (const domain of host.domains.values()) {
        if (!executingStates.has(domain.state) || host.inactiveForMigration(domain.uuid)) continue;
        const other = executingOn.get(domain.uuid);
        if (other !== undefined) throw new Violation("no VM runs on two hosts", `${domain.name} executes on ${other} and ${host.hostId}`);
        executingOn.set(domain.uuid, host.hostId);
      }
    }
  }

  // ---- 3. acknowledged events ----

  acknowledged(hostId: string, seq: number): void {
    this.ackedSeq.set(hostId, Math.max(this.ackedSeq.get(hostId) ?? 0, seq));
  }

  private checkExactlyOnce(replica: CheckedReplica): void {
    for (const [hostId, sequences] of replica.hostSequences()) {
      if (sequences.eventsApplied !== sequences.appliedSeq) {
        const what = sequences.eventsApplied < sequences.appliedSeq ? "lost" : "applied twice";
        throw new Violation(
          "no acknowledged event lost or applied twice",
          `${replica.id}: host ${hostId} has applied_seq ${sequences.appliedSeq} but ${sequences.eventsApplied} events applied (${Math.abs(sequences.appliedSeq - sequences.eventsApplied)} ${what})`,
        );
      }
    }
  }

  /** Once healed and quiet: every replica holds every acknowledged event. */
  checkAcknowledgedKept(replicas: readonly CheckedReplica[]): void {
    for (const replica of replicas) {
      const sequences = replica.hostSequences();
      for (const [hostId, acked] of this.ackedSeq) {
        const applied = sequences.get(hostId)?.appliedSeq ?? 0;
        if (applied < acked) {
          throw new Violation("no acknowledged event lost or applied twice", `${replica.id}: host ${hostId} applied through seq ${applied}, but seq ${acked} was acknowledged to the agent`);
        }
      }
    }
  }

  // ---- 4. committed state ----

  private checkChain(replica: CheckedReplica): void {
    const applied = replica.appliedIndex();
    let chain = this.chains.get(replica.id);
    if (chain === undefined) {
      chain = { hashedThrough: 0, hash: 0 };
      this.chains.set(replica.id, chain);
    }
    if (applied < chain.hashedThrough) throw new Violation("committed state is kept", `${replica.id}'s applied index went back from ${chain.hashedThrough} to ${applied}`);
    if (applied === chain.hashedThrough) return;
    let entries = replica.appliedEntries(chain.hashedThrough, applied);
    if (entries === null) {
      // A snapshot (installed or taken) covers what we have not hashed: continue from the shared chain.
      const known = this.chainAt.get(applied);
      chain.hashedThrough = applied;
      chain.hash = known?.hash ?? null;
      return;
    }
    for (const entry of entries) {
      const hash = chain.hash === null ? null : new Hasher(chain.hash).number(entry.index).number(entry.term).bytes(entry.data).digest();
      const known = this.chainAt.get(entry.index);
      if (known !== undefined && (known.term !== entry.term || (hash !== null && known.hash !== hash))) {
        throw new Violation("committed state is kept", `${replica.id} applied a different entry at index ${entry.index} (term ${entry.term}) than another replica did (term ${known.term})`);
      }
      if (known === undefined && hash !== null) this.chainAt.set(entry.index, { term: entry.term, hash });
      chain.hash = hash ?? known?.hash ?? null;
      chain.hashedThrough = entry.index;
    }
    entries = null;
  }

  // ---- 5. fencing ----

  fenced(record: FenceRecord, forbidden: string | null): void {
    this.fenceRecords.push(record);
    if (forbidden !== null) throw new Violation("no fencing in maintenance, grace or past the connectivity threshold", `${record.hostId} fenced while ${forbidden}`);
  }

  // ---- the periodic state check ----

  checkState(replicas: readonly CheckedReplica[]): void {
    for (const replica of replicas) {
      this.checkExactlyOnce(replica);
      this.checkChain(replica);
    }
  }

  /** Acks can never pass what the agent journaled. */
  checkAgents(agents: readonly CheckedAgent[]): void {
    for (const agent of agents) {
      const journal = agent.journal();
      if (journal.lastAckedSeq > journal.lastSeq) throw new Violation("no acknowledged event lost or applied twice", `${agent.hostId} was acknowledged seq ${journal.lastAckedSeq} beyond its last journaled seq ${journal.lastSeq}`);
    }
  }
}
