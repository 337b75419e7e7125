// A real multi-replica vigild cluster on loopback for integration tests, plus
// an in-process client that rotates endpoints the way vigilctl does.
import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { ClusterServiceClient } from "../../common/generated/vigil/v1/ClusterService.js";
import type { ClusterStatus__Output } from "../../common/generated/vigil/v1/ClusterStatus.js";
import { clientConstructor } from "../../common/proto.js";
import { startProcess, stopProcess, temporaryDirectory, vigildPath, type RunningProcess } from "./processes.js";
import { waitFor } from "./wait.js";

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export interface Replica {
  id: string;
  address: string;
  dataDir: string;
  process: RunningProcess | null;
}

export class TestCluster {
  private readonly directory = temporaryDirectory("cluster");
  readonly replicas: Replica[] = [];
  private peers = "";

  constructor(private readonly extraArgs: string[] = []) {}

  /**
   * `peerAddress` names the address the replicas know each other (and agents know them) by, when
   * something stands in front of each replica's listen address (the chaos fault proxies).
   */
  async start(size: number, options: { peerAddress?: (replica: Replica) => string } = {}): Promise<void> {
    const ports = await freePorts(size);
    for (const [position, port] of ports.entries()) {
      this.replicas.push({ id: `cp${position + 1}`, address: `127.0.0.1:${port}`, dataDir: `${this.directory.path}/cp${position + 1}`, process: null });
    }
    this.peers = this.replicas.map((replica) => `${replica.id}=${options.peerAddress?.(replica) ?? replica.address}`).join(",");
    for (const replica of this.replicas) this.launch(replica);
    await this.waitForLeader();
  }

  launch(replica: Replica): void {
    replica.process = startProcess(replica.id, vigildPath, ["--insecure", "--id", replica.id, "--listen", replica.address, "--peers", this.peers, "--data-dir", replica.dataDir, ...this.extraArgs]);
  }

  replica(id: string): Replica {
    const found = this.replicas.find((replica) => replica.id === id);
    if (found === undefined) throw new Error(`no replica ${id}`);
    return found;
  }

  running(): Replica[] {
    return this.replicas.filter((replica) => replica.process !== null && replica.process.child.exitCode === null && replica.process.child.signalCode === null);
  }

  endpoints(): string[] {
    return this.replicas.map((replica) => replica.address);
  }

  client(address: string): ClusterServiceClient {
    const Client = clientConstructor("ClusterService");
    return new Client(address, grpc.credentials.createInsecure()) as unknown as ClusterServiceClient;
  }

  status(address: string, timeoutMs = 2_000): Promise<ClusterStatus__Output> {
    const client = this.client(address);
    return new Promise((resolve, reject) =>
      client.Status({}, { deadline: Date.now() + timeoutMs }, (error, response) => {
        client.close();
        if (error !== null || response === undefined) reject(error ?? new Error("no status"));
        else resolve(response);
      }),
    );
  }

  /** Waits until a running replica leads and every running replica agrees on it. */
  async waitForLeader(options: { excluding?: string; timeoutMs?: number } = {}): Promise<string> {
    return waitFor(
      async () => {
        const statuses = await Promise.all(this.running().filter((replica) => replica.id !== options.excluding).map((replica) => this.status(replica.address)));
        const leaders = new Set(statuses.map((status) => status.leader));
        const [leader] = leaders;
        return leaders.size === 1 && leader !== undefined && leader !== "" && leader !== options.excluding ? leader : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 20_000, what: "one agreed leader" },
    );
  }

  /** Sets a config key through any reachable replica (rotating like vigilctl); resolves when acknowledged. */
  async setConfig(key: string, value: string, deadlineMs = 3_000): Promise<void> {
    let lastError: unknown = null;
    for (const replica of this.running()) {
      const client = this.client(replica.address);
      try {
        await new Promise<void>((resolve, reject) =>
          client.SetConfig({ key, value }, { deadline: Date.now() + deadlineMs }, (error) => (error === null ? resolve() : reject(error))),
        );
        return;
      } catch (error) {
        lastError = error;
      } finally {
        client.close();
      }
    }
    throw lastError ?? new Error("no replica running");
  }

  /** The config-change messages in a replica's event log, in order. */
  async configEvents(address: string): Promise<string[]> {
    const client = this.client(address);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = client.ListEvents({ limit: 1000 }, { deadline: Date.now() + 5_000 });
      stream.on("data", (event: { kind: string; message: string }) => {
        if (event.kind === "config") messages.push(event.message);
      });
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    client.close();
    return messages;
  }

  async stopAll(): Promise<void> {
    for (const replica of this.replicas) {
      if (replica.process === null) continue;
      if (replica.process.child.signalCode === "SIGSTOP" || replica.process.child.exitCode === null) replica.process.child.kill("SIGCONT");
      await stopProcess(replica.process).catch(() => replica.process?.child.kill("SIGKILL"));
    }
    this.directory.remove();
  }
}
