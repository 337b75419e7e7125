// Proves the Prometheus endpoint serves every named vigild and agent series, read live from fake sources at scrape time, over real HTTP on loopback.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  createMetricsRegistry,
  parseListenAddress,
  registerAgentMetrics,
  registerControlPlaneMetrics,
  startMetricsEndpoint,
  type MetricsEndpoint,
} from "../../common/metrics.js";

/** The value of one sample line, e.g. sample(text, 'vigil_hosts{state="ready"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(endpoint: MetricsEndpoint): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
  return response.text();
}

class FakeReplication {
  readonly replicaId = "cp1";
  term = 3;
  leaderId: string | null = "cp1";
  commitIndex = { cp1: 40, cp2: 35 };
  appliedIndex = { cp1: 38, cp2: 30 };
  private listeners: ((change: { leader: boolean; term: number }) => void)[] = [];
  currentTerm(): number {
    return this.term;
  }
  isLeader(): boolean {
    return this.leaderId === this.replicaId;
  }
  status() {
    return {
      leaderId: this.leaderId,
      members: (["cp1", "cp2"] as const).map((id) => ({ id, commitIndex: this.commitIndex[id], appliedIndex: this.appliedIndex[id] })),
    };
  }
  onLeadershipChange(listener: (change: { leader: boolean; term: number }) => void): void {
    this.listeners.push(listener);
  }
  changeLeader(leaderId: string | null, term: number): void {
    this.leaderId = leaderId;
    this.term = term;
    for (const listener of this.listeners) listener({ leader: leaderId === this.replicaId, term });
  }
}

describe("metrics endpoint", () => {
  const endpoints: MetricsEndpoint[] = [];
  after(async () => {
    for (const endpoint of endpoints) await endpoint.close();
  });

  it("serves vigild's raft, host and duty series, reading the sources at each scrape", async () => {
    const registry = createMetricsRegistry();
    const replication = new FakeReplication();
    const hosts = [{ state: "ready" }, { state: "ready" }, { state: "maintenance-x" }];
    const metrics = registerControlPlaneMetrics(registry, { replication, hosts: { listHosts: () => hosts } });
    const endpoint = await startMetricsEndpoint("127.0.0.1:0", registry);
    endpoints.push(endpoint);

    let text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_raft_term"), 3);
    assert.equal(sample(text, "vigil_raft_is_leader"), 1);
    assert.equal(sample(text, "vigil_raft_commit_index"), 40);
    assert.equal(sample(text, "vigil_raft_applied_index"), 38);
    assert.equal(sample(text, "vigil_raft_commit_lag_entries"), 0);
    assert.equal(sample(text, "vigil_raft_apply_lag_entries"), 2);
    assert.equal(sample(text, "vigil_raft_leader_changes_total"), 0);
    assert.equal(sample(text, 'vigil_hosts{state="ready"}'), 2);
    assert.equal(sample(text, 'vigil_hosts{state="dead"}'), 0, "known states are exported at 0");
    assert.equal(sample(text, 'vigil_hosts{state="maintenance-x"}'), 1, "a state not in the list is still counted");
    for (const outcome of ["confirmed", "failed", "operator_confirmed"]) assert.equal(sample(text, `vigil_fences_total{outcome="${outcome}"}`), 0);
    for (const outcome of ["started", "failed", "pending"]) assert.equal(sample(text, `vigil_ha_restarts_total{outcome="${outcome}"}`), 0);
    for (const outcome of ["succeeded", "shutdown_migrated", "rolled_back", "cancelled"]) {
      assert.equal(sample(text, `vigil_migrations_total{outcome="${outcome}"}`), 0);
    }
    assert.notEqual(sample(text, "process_cpu_user_seconds_total"), undefined, "process metrics are included");

    // This replica becomes a follower of cp2 that trails it; a later issue's duty counts a fence.
    replication.changeLeader("cp2", 4);
    hosts.pop();
    metrics.fences.inc({ outcome: "confirmed" });
    text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_raft_term"), 4);
    assert.equal(sample(text, "vigil_raft_is_leader"), 0);
    assert.equal(sample(text, "vigil_raft_leader_changes_total"), 1);
    assert.equal(sample(text, "vigil_raft_commit_lag_entries"), 0, "cp2 has committed less than cp1 here: no lag");
    replication.commitIndex.cp2 = 50;
    text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_raft_commit_lag_entries"), 10);
    assert.equal(sample(text, 'vigil_hosts{state="maintenance-x"}'), undefined, "a state no host is in any more disappears");
    assert.equal(sample(text, 'vigil_fences_total{outcome="confirmed"}'), 1);
  });

  it("serves the agent's outbox backlog and libvirt reconnects", async () => {
    const registry = createMetricsRegistry();
    const journal = { seq: 12, acked: 9, lastSeq: () => journal.seq, lastAckedSeq: () => journal.acked };
    let connectionListener: (change: "lost" | "restored") => void = () => {};
    registerAgentMetrics(registry, { journal, libvirt: { onConnectionChange: (listener) => (connectionListener = listener) } });
    const endpoint = await startMetricsEndpoint("127.0.0.1:0", registry);
    endpoints.push(endpoint);

    let text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_agent_outbox_backlog_events"), 3);
    assert.equal(sample(text, "vigil_agent_libvirt_connected"), 1);
    assert.equal(sample(text, "vigil_agent_libvirt_reconnects_total"), 0);

    connectionListener("lost");
    text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_agent_libvirt_connected"), 0);
    connectionListener("restored");
    journal.acked = 12;
    text = await scrape(endpoint);
    assert.equal(sample(text, "vigil_agent_libvirt_connected"), 1);
    assert.equal(sample(text, "vigil_agent_libvirt_reconnects_total"), 1);
    assert.equal(sample(text, "vigil_agent_outbox_backlog_events"), 0);
  });

  it("answers 404 off /metrics and refuses an address that is not host:port", async () => {
    const endpoint = await startMetricsEndpoint("127.0.0.1:0", createMetricsRegistry());
    endpoints.push(endpoint);
    const response = await fetch(`http://127.0.0.1:${endpoint.port}/`);
    assert.equal(response.status, 404);
    await response.text();
    assert.deepEqual(parseListenAddress("[::1]:9740"), { host: "::1", port: 9740 });
    assert.deepEqual(parseListenAddress("0.0.0.0:9741"), { host: "0.0.0.0", port: 9741 });
    assert.throws(() => parseListenAddress("9740"), /is not host:port/);
    assert.throws(() => parseListenAddress("127.0.0.1:99999"), /is not host:port/);
    await assert.rejects(startMetricsEndpoint(`127.0.0.1:${endpoint.port}`, createMetricsRegistry()), /metrics endpoint 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });
});
