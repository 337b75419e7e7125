// Proves the gateway's group commit with a real vigild and real gRPC streams: the events of many
// agents' streams share log entries (AgentEventBatches) of bounded weight, yet each host's events
// reach the log in order, exactly once, and are acknowledged only up to what is applied; a stream
// that reconnects and resends is not applied twice.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import * as grpc from "@grpc/grpc-js";
import type { AgentGatewayClient } from "../../common/generated/vigil/v1/AgentGateway.js";
import type { ControlMessage__Output } from "../../common/generated/vigil/v1/ControlMessage.js";
import { clientConstructor } from "../../common/proto.js";
import { decodeEntry } from "../../controlplane/state/commands.js";
import { startVigild, stopProcess, temporaryDirectory } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

const agents = 24;
const eventsPerAgent = 40;
/** Each stream's first event is an inventory this large: 24 of them outweigh one entry (the gateway's entryEventsMax, 1,024). */
const inventoryDomains = 300;

function vmUuid(agent: number, vm: number): string {
  return `${String(agent).padStart(8, "0")}-0000-4000-8000-${String(vm).padStart(12, "0")}`;
}

/** One raw agent stream: Hello, then lifecycle events `fromSeq..toSeq` at once; records every ack. */
class RawAgent {
  readonly acks: number[] = [];
  private readonly client: AgentGatewayClient;
  private call: grpc.ClientDuplexStream<object, ControlMessage__Output> | null = null;
  welcomedAppliedSeq: number | null = null;

  constructor(
    address: string,
    readonly hostId: string,
    private readonly agent: number,
  ) {
    this.client = new (clientConstructor("AgentGateway"))(address, grpc.credentials.createInsecure()) as unknown as AgentGatewayClient;
  }

  open(): void {
    const call = this.client.Connect() as unknown as grpc.ClientDuplexStream<object, ControlMessage__Output>;
    this.call = call;
    call.on("data", (message: ControlMessage__Output) => {
      if (message.body === "welcome") this.welcomedAppliedSeq = message.welcome!.appliedSeq;
      if (message.body === "ack") this.acks.push(message.ack!.ackedSeq);
    });
    call.on("error", () => undefined);
    call.write({ hello: { hostId: this.hostId, bootId: "boot-1", sessionId: "s", agentVersion: "test", lastAckedSeq: 0 } });
  }

  /** Seq 1 is the inventory, every later one a lifecycle event of one of its first three VMs. */
  send(fromSeq: number, toSeq: number): void {
    const domain = (vm: number, running: boolean) => ({ name: `ingest-${this.agent}-vm${vm}`, uuid: vmUuid(this.agent, vm), state: running ? "running" : "paused", reason: running ? "unpaused" : "user", vcpus: 1, memoryBytes: 1 << 20 });
    for (let seq = fromSeq; seq <= toSeq; seq++) {
      const running = seq % 2 === 0;
      const body = seq === 1
        ? { inventory: { domains: Array.from({ length: inventoryDomains }, (_, vm) => domain(vm, true)) } }
        : { lifecycle: { domain: domain(seq % 3, running), event: running ? "resumed" : "suspended", detail: "" } };
      this.call!.write({ event: { seq, atMs: Date.now(), ...body } });
    }
  }

  lastAck(): number {
    return this.acks.at(-1) ?? 0;
  }

  close(): void {
    this.call?.cancel();
    this.call = null;
  }

  dispose(): void {
    this.close();
    this.client.close();
  }
}

describe("agent event ingest with real gRPC streams", () => {
  it("commits many streams' events in shared entries, per host in order and exactly once, and acks only what applied", async () => {
    const directory = temporaryDirectory("agent-ingest");
    after(() => directory.remove());
    const dataDir = `${directory.path}/cp1`;
    const vigild = await startVigild({ dataDir });
    after(() => stopProcess(vigild));
    const streams = Array.from({ length: agents }, (_, agent) => new RawAgent(vigild.address, `ingest-h${agent}`, agent));
    after(() => streams.forEach((stream) => stream.dispose()));

    for (const stream of streams) stream.open();
    await waitFor(() => streams.every((stream) => stream.welcomedAppliedSeq !== null) || undefined, { timeoutMs: 20_000, what: "every stream welcomed" });
    // Every stream sends its whole burst before any is acknowledged: the gateway must coalesce.
    for (const stream of streams) stream.send(1, eventsPerAgent);
    await waitFor(() => streams.every((stream) => stream.lastAck() === eventsPerAgent) || undefined, { timeoutMs: 30_000, what: `every stream acknowledged up to seq ${eventsPerAgent}` });
    for (const stream of streams) {
      assert.deepEqual([...stream.acks].sort((a, b) => a - b), stream.acks, `${stream.hostId}'s acks never go back`);
      assert.ok(stream.acks.every((seq) => seq >= 1 && seq <= eventsPerAgent), `${stream.hostId} is acked only for what it sent`);
    }

    // Reconnect one host and resend everything plus five new events: only the new ones apply.
    const again = streams[0]!;
    again.close();
    again.acks.length = 0;
    again.welcomedAppliedSeq = null;
    again.open();
    await waitFor(() => again.welcomedAppliedSeq ?? undefined, { timeoutMs: 20_000, what: "the reconnected stream welcomed" });
    assert.equal(again.welcomedAppliedSeq, eventsPerAgent, "Welcome says what is applied");
    again.send(1, eventsPerAgent + 5);
    await waitFor(() => again.lastAck() === eventsPerAgent + 5 || undefined, { timeoutMs: 20_000, what: "the resent and new events acknowledged" });

    assert.equal(await stopProcess(vigild), 0);
    const db = new Database(`${dataDir}/vigild.db`, { readonly: true, fileMustExist: true });
    after(() => db.close());
    const seqsByHost = new Map<string, number[]>();
    let sharedEntries = 0;
    let heaviestEntry = 0;
    // Normal entries (type 0; 1 is a membership change) with data (empty: a new leader's no-op).
    for (const row of db.prepare("SELECT data FROM log_entries WHERE type = 0 AND length(data) > 0 ORDER BY idx").all() as { data: Buffer }[]) {
      const command = decodeEntry(row.data).command;
      if (command.kind !== "AgentEventBatches") continue;
      if (command.hosts.length > 1) sharedEntries += 1;
      const events = command.hosts.flatMap((batch) => batch.events);
      if (events.length > 1) heaviestEntry = Math.max(heaviestEntry, events.reduce((sum, event) => sum + 1 + (event.inventory?.domains.length ?? 0), 0));
      for (const batch of command.hosts) seqsByHost.set(batch.hostId, [...(seqsByHost.get(batch.hostId) ?? []), ...batch.events.map((event) => event.seq)]);
    }
    assert.ok(sharedEntries > 0, "some entry carries the events of several hosts");
    assert.ok(heaviestEntry > 0 && heaviestEntry <= 1_024, `an entry of several events weighs at most 1,024 (an inventory one per domain): ${heaviestEntry}`);
    for (const stream of streams.slice(1)) {
      assert.deepEqual(seqsByHost.get(stream.hostId), Array.from({ length: eventsPerAgent }, (_, index) => index + 1), `${stream.hostId}'s events in the log, in order, each once`);
    }
    const vms = db.prepare("SELECT count(*) AS count FROM vms WHERE name LIKE 'ingest-%'").get() as { count: number };
    assert.equal(vms.count, agents * inventoryDomains, "every inventoried VM recorded");
    const hosts = db.prepare("SELECT id, applied_seq AS appliedSeq, events_applied AS eventsApplied FROM hosts WHERE id LIKE 'ingest-h%'").all() as { id: string; appliedSeq: number; eventsApplied: number }[];
    assert.equal(hosts.length, agents);
    for (const host of hosts) {
      const expected = host.id === again.hostId ? eventsPerAgent + 5 : eventsPerAgent;
      assert.deepEqual({ appliedSeq: host.appliedSeq, eventsApplied: host.eventsApplied }, { appliedSeq: expected, eventsApplied: expected }, `${host.id}: every event applied once (resent ones skipped)`);
    }
  });
});
