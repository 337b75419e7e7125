// Proves mTLS, identities and authorization with real processes over loopback and real certificates
// (made by vigilctl's pki code with openssl in a temp dir): bad certificates are refused at the
// handshake, agents speak only for their own host, readers only read, peers only talk to replicas,
// rotated certificates reach new connections without a restart, and floods are limited per principal.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { clientConstructor, type ServiceName } from "../../common/proto.js";
import { checkReplicaIdentity } from "../../common/tls.js";
import { startAgent, startVigild, stopProcess, temporaryDirectory, vigilctl, vigilctlJson, type RunningProcess, type TlsFiles, type Vigild } from "../support/processes.js";
import { TestPki } from "../support/pki.js";
import { waitFor } from "../support/wait.js";

interface Outcome {
  code: grpc.status;
  details: string;
  response?: unknown;
}

/** A client of `service` presenting `files` (null: TLS without a client certificate). */
function client(service: ServiceName, address: string, ca: string, files: TlsFiles | null): grpc.Client {
  const credentials =
    files === null
      ? grpc.credentials.createSsl(readFileSync(ca), null, null, { checkServerIdentity: checkReplicaIdentity })
      : grpc.credentials.createSsl(readFileSync(ca), readFileSync(files.key), readFileSync(files.cert), { checkServerIdentity: checkReplicaIdentity });
  return new (clientConstructor(service))(address, credentials);
}

function unary(target: grpc.Client, method: string, request: object): Promise<Outcome> {
  const call = (target as unknown as Record<string, (request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: unknown) => void) => void>)[method]!;
  return new Promise((resolve) =>
    call.call(target, request, { deadline: Date.now() + 5_000 }, (error, response) =>
      resolve(error === null ? { code: grpc.status.OK, details: "", response } : { code: error.code, details: error.details }),
    ),
  );
}

interface AgentStreamResult {
  status: Outcome;
  welcomed: boolean;
}

/** Opens AgentGateway.Connect with `files`, says hello as `hostId`, then sends `events` once welcomed. */
function agentStream(address: string, ca: string, files: TlsFiles, hostId: string, events: (appliedSeq: number) => object[] = () => []): Promise<AgentStreamResult> {
  const gateway = client("AgentGateway", address, ca, files);
  const call = (gateway as unknown as { Connect(options: grpc.CallOptions): grpc.ClientDuplexStream<object, { welcome?: { appliedSeq: number }; ack?: { ackedSeq: number } }> }).Connect({
    deadline: Date.now() + 10_000,
  });
  let welcomed = false;
  let lastSeq = 0;
  return new Promise((resolve) => {
    call.on("data", (message) => {
      // The stream ends once every event sent is acknowledged (committed), or at once when none is sent.
      if (message.ack !== undefined && message.ack !== null && lastSeq > 0 && message.ack.ackedSeq >= lastSeq) call.end();
      if (message.welcome === undefined || message.welcome === null || welcomed) return;
      welcomed = true;
      const batch = events(message.welcome.appliedSeq) as { seq: number }[];
      for (const event of batch) call.write({ event });
      lastSeq = batch.at(-1)?.seq ?? 0;
      if (batch.length === 0) call.end();
    });
    call.on("error", () => undefined);
    call.on("status", (status) => {
      gateway.close();
      resolve({ status: { code: status.code, details: status.details }, welcomed });
    });
    call.write({ hello: { hostId, bootId: `boot-${hostId}-test`, agentVersion: "test", sessionId: "s1" } });
  });
}

/** The serial number of the certificate the server at `address` presents to a new connection. */
function serverSerial(address: string, files: TlsFiles): Promise<string> {
  const [host, port] = address.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port: Number(port), ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), ALPNProtocols: ["h2"], checkServerIdentity: () => undefined }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.on("error", reject);
  });
}

describe("security: mTLS, identities, authorization and limits", () => {
  const directory = temporaryDirectory("security");
  const pki = TestPki.in(directory.path, "pki");
  const wrongPki = TestPki.in(directory.path, "wrong");
  const replica = pki.issue("replica", "cp1");
  const agentH1 = pki.issue("agent", "h1");
  const agentH2 = pki.issue("agent", "h2");
  const reader = pki.issue("user", "rita", { role: "reader" });
  const operator = pki.issue("user", "otto", { role: "operator" });
  const expired = pki.issue("user", "old", { role: "operator", days: -1 });
  const foreign = { ...wrongPki.issue("user", "mallory", { role: "operator" }), ca: pki.ca };
  let vigild: Vigild;
  let agent: RunningProcess;
  let testVmUuid = "";

  before(async () => {
    vigild = await startVigild({ dataDir: `${directory.path}/cp1`, tls: replica, extraArgs: ["--tls-reload-seconds", "0"] });
    agent = startAgent({ hostId: "h1", controlPlane: vigild.address, stateDir: `${directory.path}/h1`, tls: agentH1 });
    const vm = await waitFor(
      () => vigilctlJson<{ name: string; uuid: string; host: string; state: string }[]>(vigild.address, ["vm", "list"], { tls: operator }).find((item) => item.name === "test" && item.state === "running"),
      { timeoutMs: 20_000, what: "vm test of h1 to be reported running over mTLS" },
    );
    testVmUuid = vm.uuid;
  });

  after(async () => {
    if (agent !== undefined) await stopProcess(agent);
    if (vigild !== undefined) await stopProcess(vigild);
    directory.remove();
  });

  /** What a refused or accepted call may have changed: hosts, VMs and the event log. */
  async function stateDigest(): Promise<string> {
    const hosts = vigilctlJson<{ id: string; state: string }[]>(vigild.address, ["host", "list"], { tls: operator }).map(({ id, state }) => ({ id, state }));
    const vms = vigilctlJson<object[]>(vigild.address, ["vm", "list"], { tls: operator });
    const events = vigilctlJson<unknown[]>(vigild.address, ["events"], { tls: operator });
    return JSON.stringify({ hosts, vms, events: events.length });
  }

  it("serves an agent and users over mTLS: the daemons log no --insecure warning", () => {
    assert.doesNotMatch(vigild.output(), /without TLS/);
    assert.match(vigild.output(), /TLS certificate loaded/);
    assert.doesNotMatch(agent.output(), /without TLS/);
  });

  it("refuses a client certificate of another CA, an expired one, none at all, and plaintext, changing nothing", async () => {
    const before = await stateDigest();
    for (const [what, files] of [["another CA", foreign], ["expired", expired]] as const) {
      const result = vigilctl(vigild.address, ["vm", "stop", "test"], { tls: files });
      assert.equal(result.code, 1, `${what}: ${result.stderr}`);
      assert.match(result.stderr, /no endpoint reachable .*connection or TLS handshake failed; check --tls-ca\/--tls-cert\/--tls-key/, what);
    }
    const noCertificate = await unary(client("ClusterService", vigild.address, pki.ca, null), "SetMaintenance", { on: true });
    assert.equal(noCertificate.code, grpc.status.UNAVAILABLE, noCertificate.details);
    const plaintext = vigilctl(vigild.address, ["cluster", "maintenance", "on"]);
    assert.equal(plaintext.code, 1, plaintext.stderr);
    assert.equal(await stateDigest(), before);
  });

  it("gives a reader PERMISSION_DENIED for vm migrate, host confirm-fenced and vm stop, and lets it read", async () => {
    const before = await stateDigest();
    for (const args of [["vm", "migrate", "test", "--to", "h2"], ["host", "confirm-fenced", "h1"], ["vm", "stop", "test"], ["cluster", "maintenance", "on"]]) {
      const result = vigilctl(vigild.address, args, { tls: reader });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /user rita \(reader\) may not call \/vigil\.v1\.\w+\/\w+: it needs the operator role/, args.join(" "));
    }
    const denied = await unary(client("VmService", vigild.address, pki.ca, reader), "Stop", { vm: "test" });
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.equal(vigilctl(vigild.address, ["vm", "list"], { tls: reader }).code, 0, "a reader reads");
    assert.equal(vigilctl(vigild.address, ["events"], { tls: reader }).code, 0, "a reader reads events");
    assert.equal(await stateDigest(), before);
    assert.match(vigild.output(), /"principal":"user rita \(reader\)","method":"\/vigil\.v1\.VmService\/Stop","code":"PERMISSION_DENIED"/, "the denial is logged with the principal");
  });

  it("lets an operator act", () => {
    const result = vigilctl(vigild.address, ["host", "maintenance", "h1", "off"], { tls: operator });
    assert.equal(result.code, 0, result.stderr);
  });

  it("refuses an agent certificate of host h1 connecting as host h2: h2 is never registered", async () => {
    const before = await stateDigest();
    const result = await agentStream(vigild.address, pki.ca, agentH1, "h2");
    assert.equal(result.status.code, grpc.status.PERMISSION_DENIED, result.status.details);
    assert.equal(result.status.details, 'host h1 may not connect as host "h2"');
    assert.equal(result.welcomed, false);
    assert.equal(await stateDigest(), before);
  });

  it("an agent of host h2 reporting h1's VM running changes neither its owner nor its state: a conflict is recorded", async () => {
    const registered = await agentStream(vigild.address, pki.ca, agentH2, "h2");
    assert.equal(registered.welcomed, true, registered.status.details);
    const vmsBefore = vigilctlJson<object[]>(vigild.address, ["vm", "list"], { tls: operator });
    const claim = await agentStream(vigild.address, pki.ca, agentH2, "h2", (appliedSeq) => [
      { seq: appliedSeq + 1, atMs: 1, lifecycle: { domain: { name: "test", uuid: testVmUuid, state: "running", reason: "booted" }, event: "started", detail: "booted" } },
    ]);
    assert.equal(claim.welcomed, true);
    // Accepted and committed (the stream ended after its ack): refusing it would wedge h2's outbox.
    assert.equal(claim.status.code, grpc.status.OK, claim.status.details);
    assert.deepEqual(vigilctlJson<object[]>(vigild.address, ["vm", "list"], { tls: operator }), vmsBefore);
    const events = vigilctlJson<{ kind: string; message: string }[]>(vigild.address, ["events"], { tls: operator });
    assert.ok(events.some((event) => event.kind === "conflict" && /vm test: reported running on h2, but it belongs to h1/.test(event.message)), JSON.stringify(events.slice(-5)));
  });

  it("refuses peer RPCs from agent and user certificates", async () => {
    for (const files of [agentH1, operator]) {
      const outcome = await unary(client("PeerService", vigild.address, pki.ca, files), "Hello", { clusterId: "", replicaId: "" });
      assert.equal(outcome.code, grpc.status.PERMISSION_DENIED, outcome.details);
      assert.match(outcome.details, /may not call \/vigil\.v1\.PeerService\/Hello: it needs a replica certificate/);
    }
    const propose = await unary(client("PeerService", vigild.address, pki.ca, agentH1), "Propose", { clusterId: "", command: Buffer.from("{}") });
    assert.equal(propose.code, grpc.status.PERMISSION_DENIED);
  });

  it("refuses an agent certificate calling the public API", async () => {
    const outcome = await unary(client("HostService", vigild.address, pki.ca, agentH1), "List", {});
    assert.equal(outcome.code, grpc.status.PERMISSION_DENIED);
  });

  it("bounds the events --follow streams one replica serves, and frees a slot when a client leaves", async () => {
    const events = client("ClusterService", vigild.address, pki.ca, operator);
    type Follow = grpc.ClientReadableStream<unknown>;
    const follow = () => (events as unknown as { ListEvents(request: object): Follow }).ListEvents({ follow: true });
    const firstMessage = (stream: Follow) =>
      new Promise<"data" | grpc.status>((resolve) => {
        stream.once("data", () => resolve("data"));
        stream.on("error", (error: grpc.ServiceError) => resolve(error.code));
      });
    const open = Array.from({ length: 256 }, follow);
    assert.deepEqual(new Set(await Promise.all(open.map(firstMessage))), new Set(["data"]), "256 followers are served");
    const refused = follow();
    assert.equal(await firstMessage(refused), grpc.status.RESOURCE_EXHAUSTED);
    for (const stream of open) stream.cancel();
    await waitFor(async () => {
      const stream = follow();
      const first = await firstMessage(stream);
      stream.cancel();
      return first === "data";
    }, { timeoutMs: 10_000, what: "a follower slot to be free again" });
    events.close();
  });

  it("rotates its certificate on SIGHUP without a restart: new connections see it, the agent's stream stays", async () => {
    const before = await serverSerial(vigild.address, operator);
    pki.issue("replica", "cp1");
    assert.equal(await serverSerial(vigild.address, operator), before, "no reload without SIGHUP when polling is off");
    vigild.child.kill("SIGHUP");
    const after = await waitFor(async () => {
      const serial = await serverSerial(vigild.address, operator);
      return serial !== before ? serial : undefined;
    }, { timeoutMs: 10_000, what: "the new certificate on a new connection" });
    const expected = new (await import("node:crypto")).X509Certificate(readFileSync(replica.cert)).serialNumber;
    assert.equal(after, expected);
    assert.equal(vigilctl(vigild.address, ["host", "list"], { tls: reader }).code, 0, "clients accept the new certificate");
    assert.equal(vigild.child.exitCode, null, "vigild kept running");
    const hosts = vigilctlJson<{ id: string; alive: boolean }[]>(vigild.address, ["host", "list"], { tls: reader });
    assert.equal(hosts.find((host) => host.id === "h1")?.alive, true, "the agent connected before the rotation is still alive");
  });
});

describe("security: limits per principal and the file watcher", () => {
  const directory = temporaryDirectory("security-limits");
  const pki = TestPki.in(directory.path, "pki");
  const replica = pki.issue("replica", "cp1");
  const agentH1 = pki.issue("agent", "h1");
  const agentH2 = pki.issue("agent", "h2");
  const reader = pki.issue("user", "rita", { role: "reader" });
  const operator = pki.issue("user", "otto", { role: "operator" });
  let vigild: Vigild;

  before(async () => {
    vigild = await startVigild({
      dataDir: `${directory.path}/cp1`,
      tls: replica,
      extraArgs: ["--tls-reload-seconds", "1", "--call-rate", "1", "--call-burst", "5", "--connect-rate", "0.1", "--connect-burst", "2"],
    });
  });

  after(async () => {
    if (vigild !== undefined) await stopProcess(vigild);
    directory.remove();
  });

  it("answers a flooding user RESOURCE_EXHAUSTED while another user is still served", async () => {
    const flooding = client("ClusterService", vigild.address, pki.ca, reader);
    const outcomes = await Promise.all(Array.from({ length: 12 }, () => unary(flooding, "Status", {})));
    const exhausted = outcomes.filter((outcome) => outcome.code === grpc.status.RESOURCE_EXHAUSTED);
    assert.ok(exhausted.length >= 6, `at most the burst is served: ${outcomes.map((outcome) => grpc.status[outcome.code]).join(",")}`);
    assert.match(exhausted[0]!.details, /^user rita \(reader\) made too many calls \(at most 1\/s, bursts of 5\); retry in \d+ s$/);
    const other = await unary(client("ClusterService", vigild.address, pki.ca, operator), "Status", {});
    assert.equal(other.code, grpc.status.OK, "another principal is not starved");
    assert.equal((vigild.output().match(/made too many calls/g) ?? []).length, 1, "a flood is logged once");
  });

  it("limits one host's reconnect storm without starving another host", async () => {
    const codes: grpc.status[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) codes.push((await agentStream(vigild.address, pki.ca, agentH1, "h1")).status.code);
    assert.deepEqual(codes.slice(0, 2), [grpc.status.OK, grpc.status.OK], "the burst connects");
    assert.deepEqual(codes.slice(2), [grpc.status.RESOURCE_EXHAUSTED, grpc.status.RESOURCE_EXHAUSTED]);
    const other = await agentStream(vigild.address, pki.ca, agentH2, "h2");
    assert.equal(other.welcomed, true, `host h2 still connects: ${other.status.details}`);
  });

  it("picks up a re-issued certificate from the file watcher, without a signal", async () => {
    const before = await serverSerial(vigild.address, operator);
    pki.issue("replica", "cp1");
    await waitFor(async () => (await serverSerial(vigild.address, operator)) !== before, { timeoutMs: 15_000, what: "the watcher to load the new certificate" });
    assert.match(vigild.output(), /TLS certificate reloaded/);
  });

  it("keeps the old certificate when the new files are broken", async () => {
    const before = await serverSerial(vigild.address, operator);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(replica.key, "not a key\n");
    await waitFor(() => /TLS reload refused, still using the previous certificate/.test(vigild.output()), { timeoutMs: 15_000, what: "the refused reload to be logged" });
    assert.equal(await serverSerial(vigild.address, operator), before);
    const status = await unary(client("ClusterService", vigild.address, pki.ca, operator), "Status", {});
    assert.equal(status.code, grpc.status.OK, "still serving");
  });
});
