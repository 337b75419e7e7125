// Three-member clusters of both systems on loopback, each member a child process with its own
// temporary data dir: vigild (dist/controlplane/main.js) and etcd (/usr/bin/etcd 3.4). Both run
// the same Raft timing: heartbeat 100 ms, election timeout 1 s (vigil's is fixed in
// raft-replica.ts defaultRaftTiming; etcd gets --heartbeat-interval 100 --election-timeout 1000).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { systemClient, type SystemClient, type SystemName } from "./clients.js";
import { BenchTimeoutError, freePorts, isRunning, killServer, logTail, startServer, stopServer, temporaryDirectory, waitUntil, type ServerProcess, type TemporaryDirectory } from "./processes.js";

export const vigildPath = fileURLToPath(new URL("../../controlplane/main.js", import.meta.url));
export const etcdPath = "/usr/bin/etcd";
const heartbeatIntervalMs = 100;
const electionTimeoutMs = 1_000;
const statusDeadlineMs = 1_000;

export interface ClusterMember {
  readonly id: string;
  /** Where clients (and for vigil, peers too) connect. */
  readonly clientAddress: string;
  readonly dataDir: string;
  process: ServerProcess | null;
  /** Set by the benchmark for a member it runs in its own process (the log-capacity leader). */
  readonly inProcess: boolean;
}

export interface ClusterOptions {
  /** Indexes of members the benchmark runs itself instead of launching a process. */
  inProcessMembers?: readonly number[];
  extraArgs?: readonly string[];
  /** Extra Node options of every member process (for example --cpu-prof). */
  nodeOptions?: readonly string[];
  /** Members of a vigil cluster: 3 unless given (1 measures the write path without replication). */
  size?: number;
}

export abstract class BenchCluster {
  abstract readonly system: SystemName;
  readonly members: ClusterMember[] = [];
  protected readonly directory: TemporaryDirectory;
  private statusClient: SystemClient | null = null;

  protected constructor(prefix: string) {
    this.directory = temporaryDirectory(prefix);
  }

  protected abstract launch(member: ClusterMember): ServerProcess;

  /** Starts every member this cluster runs as a process; `waitForLeader` when it should be usable. */
  launchAll(): void {
    for (const member of this.members) if (!member.inProcess) member.process = this.launch(member);
  }

  endpoints(): string[] {
    return this.members.map((member) => member.clientAddress);
  }

  pids(): number[] {
    return this.members.flatMap((member) => (isRunning(member.process) && member.process.child.pid !== undefined ? [member.process.child.pid] : []));
  }

  /** Indexes of the members running as processes (a member run in-process answers no client calls). */
  running(): number[] {
    return this.members.flatMap((member, index) => (isRunning(member.process) ? [index] : []));
  }

  protected client(): SystemClient {
    this.statusClient ??= systemClient(this.system, this.endpoints());
    return this.statusClient;
  }

  /** The leader's index once every running member names the same running leader. */
  async agreedLeader(): Promise<number | undefined> {
    const running = this.running();
    const statuses = await Promise.all(running.map((index) => this.client().status(index, statusDeadlineMs)));
    const leaders = new Set(statuses.map((status) => status.leader));
    if (leaders.size !== 1) return undefined;
    const [leader] = leaders;
    if (leader === null || leader === undefined) return undefined;
    const index = this.memberIndexOf(leader, running, statuses.map((status) => status.self));
    return index !== undefined && running.includes(index) ? index : undefined;
  }

  /** Maps a system's leader id to a member index. */
  protected abstract memberIndexOf(leader: string, running: number[], selves: (string | null)[]): number | undefined;

  async waitForLeader(timeoutMs = 20_000): Promise<number> {
    try {
      return await waitUntil(() => this.agreedLeader(), { timeoutMs, what: `one agreed ${this.system} leader`, intervalMs: 50 });
    } catch (error) {
      if (!(error instanceof BenchTimeoutError)) throw error;
      const tails = this.members.filter((member) => member.process !== null).map((member) => `--- ${member.id}\n${logTail(member.process!, 1_500)}`);
      throw new BenchTimeoutError(`${error.message}\n${tails.join("\n")}`);
    }
  }

  /** kill -9 of one member; resolves with the time the signal was sent (performance.now()). */
  async kill(index: number): Promise<number> {
    const member = this.members[index]!;
    if (!isRunning(member.process)) throw new Error(`${this.system} ${member.id} is not running`);
    const killedAtMs = performance.now();
    await killServer(member.process);
    return killedAtMs;
  }

  restart(index: number): void {
    const member = this.members[index]!;
    if (isRunning(member.process)) throw new Error(`${this.system} ${member.id} is still running`);
    member.process = this.launch(member);
  }

  async stop(options: { keepData?: boolean } = {}): Promise<void> {
    this.statusClient?.close();
    this.statusClient = null;
    await Promise.all(this.members.map((member) => (member.process === null ? undefined : stopServer(member.process))));
    if (options.keepData !== true) this.directory.remove();
  }

  removeData(): void {
    this.directory.remove();
  }
}

export class VigilCluster extends BenchCluster {
  readonly system = "vigil" as const;
  private peers = "";

  private constructor(private readonly options: ClusterOptions) {
    super("vigil");
  }

  static async create(options: ClusterOptions = {}): Promise<VigilCluster> {
    const cluster = new VigilCluster(options);
    const ports = await freePorts(options.size ?? 3);
    for (const [position, port] of ports.entries()) {
      const id = `cp${position + 1}`;
      cluster.members.push({ id, clientAddress: `127.0.0.1:${port}`, dataDir: join(cluster.directory.path, id), process: null, inProcess: options.inProcessMembers?.includes(position) === true });
    }
    cluster.peers = cluster.members.map((member) => `${member.id}=${member.clientAddress}`).join(",");
    return cluster;
  }

  /** The `--peers` value every member starts with. */
  peerList(): Map<string, string> {
    return new Map(this.members.map((member) => [member.id, member.clientAddress]));
  }

  protected launch(member: ClusterMember): ServerProcess {
    mkdirSync(member.dataDir, { recursive: true });
    const args = [...(this.options.nodeOptions ?? []), vigildPath, "--insecure", "--id", member.id, "--listen", member.clientAddress, "--peers", this.peers, "--data-dir", member.dataDir, ...(this.options.extraArgs ?? [])];
    return startServer(`vigild ${member.id}`, process.execPath, args, join(this.directory.path, `${member.id}.log`));
  }

  protected memberIndexOf(leader: string): number | undefined {
    const index = this.members.findIndex((member) => member.id === leader);
    return index < 0 ? undefined : index;
  }
}

export class EtcdCluster extends BenchCluster {
  readonly system = "etcd" as const;
  private peerAddresses: string[] = [];
  /** etcd member ids (decimal strings) by member index, learned from Status. */
  private readonly memberIds = new Map<number, string>();

  private constructor() {
    super("etcd");
  }

  static async create(): Promise<EtcdCluster> {
    const cluster = new EtcdCluster();
    const ports = await freePorts(6);
    for (let position = 0; position < 3; position += 1) {
      const id = `etcd${position + 1}`;
      cluster.members.push({ id, clientAddress: `127.0.0.1:${ports[position]}`, dataDir: join(cluster.directory.path, id), process: null, inProcess: false });
    }
    cluster.peerAddresses = ports.slice(3).map((port) => `127.0.0.1:${port}`);
    return cluster;
  }

  protected launch(member: ClusterMember): ServerProcess {
    const position = this.members.indexOf(member);
    const initialCluster = this.members.map((other, index) => `${other.id}=http://${this.peerAddresses[index]}`).join(",");
    const args = [
      "--name", member.id,
      "--data-dir", member.dataDir,
      "--listen-client-urls", `http://${member.clientAddress}`,
      "--advertise-client-urls", `http://${member.clientAddress}`,
      "--listen-peer-urls", `http://${this.peerAddresses[position]}`,
      "--initial-advertise-peer-urls", `http://${this.peerAddresses[position]}`,
      "--initial-cluster", initialCluster,
      "--initial-cluster-state", "new",
      "--initial-cluster-token", "vigil-bench",
      "--heartbeat-interval", String(heartbeatIntervalMs),
      "--election-timeout", String(electionTimeoutMs),
      "--logger", "zap",
      "--log-outputs", "stderr",
    ];
    return startServer(`etcd ${member.id}`, etcdPath, args, join(this.directory.path, `${member.id}.log`));
  }

  protected memberIndexOf(leader: string, running: number[], selves: (string | null)[]): number | undefined {
    for (const [position, index] of running.entries()) {
      const self = selves[position];
      if (self !== null && self !== undefined) this.memberIds.set(index, self);
    }
    for (const [index, id] of this.memberIds) if (id === leader) return index;
    return undefined;
  }
}
