// A small in-process cluster for unit tests: replicas over MemoryStorage, a FIFO network with
// filters, and the caller's Ready duties done in the documented order. Not a test file itself.
import { seededRng } from "../../common/env.js";
import { Raft, type RaftConfig, type RaftLimits } from "../../controlplane/replication/raft.js";
import { MemoryStorage } from "../../controlplane/replication/raft-memory-storage.js";
import {
  EntryKind,
  replicaId,
  type Entry,
  type InjectedBug,
  type Message,
  type ReadState,
  type ReplicaId,
  type StepOutcome,
} from "../../controlplane/replication/raft-types.js";

export const electionTimeoutTicks = 10;
export const heartbeatIntervalTicks = 1;

export interface TestReplica {
  readonly id: ReplicaId;
  raft: Raft;
  readonly storage: MemoryStorage;
  /** Data of applied normal entries, as text, in order (the test state machine). */
  applied: string[];
  appliedIndex: number;
  readStates: ReadState[];
  stepOutcomes: StepOutcome[];
}

export interface ClusterOptions {
  readonly limits?: Partial<RaftLimits>;
  readonly injectedBug?: InjectedBug | null;
  readonly seed?: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function text(value: string): Uint8Array {
  return textEncoder.encode(value);
}

export function ids(...names: string[]): ReplicaId[] {
  return names.map(replicaId);
}

export class TestCluster {
  readonly replicas = new Map<ReplicaId, TestReplica>();
  /** Messages sent and not yet delivered, in FIFO order. */
  queue: Message[] = [];
  /** Return true to drop a message. */
  dropIf: (message: Message) => boolean = () => false;
  readonly down = new Set<ReplicaId>();
  /** Every message handed to a replica's step(), in order. */
  readonly delivered: Message[] = [];
  private seed: number;

  constructor(
    founders: readonly ReplicaId[],
    private readonly options: ClusterOptions = {},
  ) {
    this.seed = options.seed ?? 1;
    for (const id of founders) this.addReplica(id, MemoryStorage.bootstrap(founders));
  }

  /** Adds a replica over `storage` (an empty one for a joining replica). */
  addReplica(id: ReplicaId, storage: MemoryStorage = new MemoryStorage()): TestReplica {
    const replica: TestReplica = {
      id,
      raft: this.newRaft(id, storage, 0),
      storage,
      applied: [],
      appliedIndex: 0,
      readStates: [],
      stepOutcomes: [],
    };
    this.replicas.set(id, replica);
    return replica;
  }

  replica(id: ReplicaId | string): TestReplica {
    const replica = this.replicas.get(id as ReplicaId);
    if (replica === undefined) throw new Error(`no replica ${id}`);
    return replica;
  }

  raft(id: ReplicaId | string): Raft {
    return this.replica(id).raft;
  }

  /** Restarts `id` from its persisted storage: everything not persisted is lost. */
  restart(id: ReplicaId | string): void {
    const replica = this.replica(id);
    replica.raft = this.newRaft(replica.id, replica.storage, replica.appliedIndex);
    this.down.delete(replica.id);
  }

  /** Does the caller's Ready duties for one replica, in the documented order. */
  processReady(id: ReplicaId): void {
    const replica = this.replica(id);
    if (!replica.raft.hasReady()) return;
    const ready = replica.raft.ready();
    if (ready.snapshot !== null) replica.storage.applySnapshot(ready.snapshot);
    replica.storage.append(ready.entries);
    if (ready.hardState !== null) replica.storage.setHardState(ready.hardState);
    for (const message of ready.messages) this.queue.push(message);
    if (ready.snapshot !== null) {
      replica.applied = JSON.parse(textDecoder.decode(ready.snapshot.data)) as string[];
      replica.appliedIndex = ready.snapshot.metadata.index;
    }
    for (const entry of ready.committedEntries) this.apply(replica, entry);
    replica.readStates.push(...ready.readStates);
    replica.raft.advance(ready);
  }

  processAllReady(): void {
    for (const id of this.sortedIds()) if (!this.down.has(id)) this.processReady(id);
  }

  /** Delivers messages (and the replies they cause) until the network is quiet. */
  deliverAll(roundsMax = 10_000): void {
    for (let round = 0; round < roundsMax; round += 1) {
      this.processAllReady();
      const message = this.queue.shift();
      if (message === undefined) return;
      this.deliver(message);
    }
    throw new Error("the network did not go quiet");
  }

  /** Delivers one message now, through the drop filter. */
  deliver(message: Message): StepOutcome | null {
    if (this.down.has(message.to) || this.dropIf(message)) return null;
    const target = this.replicas.get(message.to);
    if (target === undefined) return null;
    this.delivered.push(message);
    const outcome = target.raft.step(message);
    target.stepOutcomes.push(outcome);
    return outcome;
  }

  tick(id: ReplicaId | string, count = 1): void {
    for (let tick = 0; tick < count; tick += 1) this.raft(id).tick();
  }

  /** Ticks every live replica once per round, delivering everything after each round. */
  tickAll(rounds: number): void {
    for (let round = 0; round < rounds; round += 1) {
      for (const id of this.sortedIds()) if (!this.down.has(id)) this.replica(id).raft.tick();
      this.deliverAll();
    }
  }

  /** Makes `id` start a campaign at once and lets it run to completion. */
  campaign(id: ReplicaId | string): void {
    this.raft(id).campaignNow();
    this.deliverAll();
  }

  isolate(id: ReplicaId | string): void {
    const previous = this.dropIf;
    this.dropIf = (message) => message.from === id || message.to === id || previous(message);
  }

  heal(): void {
    this.dropIf = () => false;
  }

  /** Crashes `id`: it stops, and everything it had not persisted is gone (see restart). */
  crash(id: ReplicaId | string): void {
    this.down.add(this.replica(id).id);
  }

  /**
   * Lets every lease among `idsToAge` run out: with all messages dropped they tick past twice the
   * election timeout, pre-campaigning in vain (which changes no term) and forgetting their leader.
   */
  forgetLeaders(idsToAge: readonly string[]): void {
    const previous = this.dropIf;
    this.dropIf = () => true;
    for (const id of idsToAge) this.tick(id, 2 * electionTimeoutTicks);
    this.deliverAll();
    this.dropIf = previous;
  }

  leaders(): ReplicaId[] {
    return this.sortedIds().filter((id) => !this.down.has(id) && this.raft(id).status().role === "leader");
  }

  sortedIds(): ReplicaId[] {
    return [...this.replicas.keys()].sort();
  }

  private apply(replica: TestReplica, entry: Entry): void {
    if (entry.kind === EntryKind.normal && entry.data.byteLength > 0) replica.applied.push(textDecoder.decode(entry.data));
    replica.appliedIndex = entry.index;
  }

  private newRaft(id: ReplicaId, storage: MemoryStorage, appliedIndex: number): Raft {
    this.seed += 1;
    const config: RaftConfig = {
      id,
      storage,
      rng: seededRng(this.seed),
      electionTimeoutTicks,
      heartbeatIntervalTicks,
      appliedIndex,
      limits: this.options.limits ?? {},
      injectedBug: this.options.injectedBug ?? null,
    };
    return new Raft(config);
  }
}

/** Takes a snapshot of `replica`'s state machine at its applied index and compacts its log. */
export function snapshotAndCompact(replica: TestReplica, entriesKept = 0): void {
  const metadata = replica.raft.snapshotMetadataAt(replica.appliedIndex);
  replica.storage.createSnapshot({
    index: metadata.index,
    confState: metadata.confState,
    data: text(JSON.stringify(replica.applied)),
    entriesKept,
  });
}
