// Proves vigilctl's output: messages round-tripped through the real descriptor set decode, the -o json shapes match DESIGN §11 field for field, and tables align.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { serviceDefinition } from "../../common/proto.js";
import { MalformedReply } from "../../controlplane/cli/errors.js";
import * as output from "../../controlplane/cli/output.js";
import type * as generated from "./generated-outputs.js";
import type * as wire from "../../controlplane/cli/wire.js";
import { type Host, type Job, type Vm, decodeClusterStatus, decodeHost, decodeHostList, decodeJob, decodeVm, decodeVmList, decodeVmOperation } from "../../controlplane/cli/wire.js";

// Compile-time proof that the decoded views are exactly what proto-loader produces for control.proto:
// each direction fails to compile if a field is missing, renamed or retyped on either side.
type Both<Wire, Proto> = [(proto: Proto) => Wire, (wire: Wire) => Proto];
const sameAsProto = {
  member: [(proto) => proto, (wire) => wire] satisfies Both<wire.Member, generated.Member>,
  clusterStatus: [(proto) => proto, (wire) => wire] satisfies Both<wire.ClusterStatus, generated.ClusterStatus>,
  configEntry: [(proto) => proto, (wire) => wire] satisfies Both<wire.ConfigEntry, generated.ConfigEntry>,
  clusterEvent: [(proto) => proto, (wire) => wire] satisfies Both<wire.ClusterEvent, generated.ClusterEvent>,
  host: [(proto) => proto, (wire) => wire] satisfies Both<wire.Host, generated.Host>,
  vm: [(proto) => proto, (wire) => wire] satisfies Both<wire.Vm, generated.Vm>,
  vmOperation: [(proto) => proto, (wire) => wire] satisfies Both<wire.VmOperation, generated.VmOperation>,
  job: [(proto) => proto, (wire) => wire] satisfies Both<wire.Job, generated.Job>,
};

/** Encodes `message` as the server would and decodes it as vigilctl's client does. */
function throughTheWire(service: "ClusterService" | "HostService" | "VmService" | "JobService", method: string, message: object): unknown {
  const definition = serviceDefinition(service)[method];
  assert.ok(definition !== undefined, `${service}.${method}`);
  return definition.responseDeserialize(definition.responseSerialize(message));
}

const clusterStatus = {
  term: 7,
  primary: "cp1",
  primaryState: "primary",
  maintenance: true,
  leader: "cp1",
  members: [
    { id: "cp1", address: "10.0.0.1:7400", role: "leader", healthy: true, commitIndex: 120, appliedIndex: 119 },
    { id: "cp2", address: "10.0.0.2:7400", role: "follower", healthy: false, commitIndex: 118, appliedIndex: 117 },
  ],
};

const host: Host = {
  id: "h1",
  state: "ready",
  alive: true,
  vms: 3,
  liveness: "alive",
  connected: true,
  bootId: "b-1",
  agentVersion: "0.1.0",
  migrationUri: "qemu+tcp://h1/system",
  appliedSeq: 99,
  lastSeenMs: 1_700_000_000_000,
  missedKeepalives: 0,
  maintenance: false,
  cpus: 32,
  memoryBytes: 64 * 2 ** 30,
  freeMemoryBytes: 12 * 2 ** 30,
  memoryProvisionedBytes: 40 * 2 ** 30,
  load: 1.5,
  connectedReplica: "cp2",
      eventsApplied: 7,
  livenessReason: "",
  fenceMethod: "manual",
  fenceAttempts: 0,
};

const vm: Vm = {
  name: "web1",
  uuid: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
  host: "h1",
  state: "running",
  restart: "always",
  reason: "booted",
  priority: 10,
  limit: ["h1", "h2"],
  selector: "mem",
  autorestart: true,
  maxRestarts: 3,
  vcpus: 2,
  memoryBytes: 4 * 2 ** 30,
  skipTrace: "",
  lastHost: "h2",
  pendingReason: "",
  disks: [{ target: "vda", files: ["/var/lib/vigil/web1.qcow2", "/var/lib/vigil/base.qcow2"], host: "h2" }],
  desiredState: "running",
  haState: "",
  migrationFallback: true,
  activeJob: "",
  jobs: [
    {
      id: "bj-0001-vda-3",
      host: "h1",
      kind: "active-commit",
      disk: "vda",
      state: "finished",
      outcome: "completed",
      detail: "/var/lib/vigil/top.qcow2 is no longer in the chain",
      recovered: true,
      chainBefore: ["/var/lib/vigil/top.qcow2", "/var/lib/vigil/web1.qcow2", "/var/lib/vigil/base.qcow2"],
      target: "/var/lib/vigil/web1.qcow2",
      startedMs: 1_700_000_000_000,
      updatedMs: 1_700_000_060_000,
      escalated: false,
    },
  ],
  diskSync: "synced on h2",
  jobBlocker: "",
};

const job: Job = {
  id: "j12",
  kind: "migrate",
  vm: "web1",
  host: "h1",
  target: "h2",
  state: "running",
  phase: "memory",
  error: "",
  processedBytes: 3 * 2 ** 30,
  remainingBytes: 512 * 2 ** 20,
  downtimeMs: 0,
  startedMs: 1_700_000_000_000,
  finishedMs: 0,
  deadlineMs: 1_700_000_300_000,
  steps: [],
  totalBytes: 4 * 2 ** 30,
  forceLive: false,
  mode: "live",
  parent: "",
  originState: "running",
  updatedMs: 1_700_000_010_000,
};

describe("-o json shapes (DESIGN §11)", () => {
  it("cluster status: term, primary, primaryState, maintenance, members[id, address, role, healthy, commitIndex, appliedIndex]", () => {
    const json = output.clusterStatusJson(decodeClusterStatus(throughTheWire("ClusterService", "Status", clusterStatus)));
    assert.deepEqual(JSON.parse(JSON.stringify(json)), {
      term: 7,
      primary: "cp1",
      primaryState: "primary",
      maintenance: true,
      members: clusterStatus.members,
      leader: "cp1",
    });
    assert.deepEqual(Object.keys(json as object).slice(0, 5), ["term", "primary", "primaryState", "maintenance", "members"]);
    const member = (json as { members: object[] }).members[0];
    assert.deepEqual(Object.keys(member ?? {}), ["id", "address", "role", "healthy", "commitIndex", "appliedIndex"]);
  });

  it("host list: an array of hosts starting with id, state, alive, vms", () => {
    const hosts = decodeHostList(throughTheWire("HostService", "List", { hosts: [host, { id: "h2" }] }));
    const json = hosts.map(output.hostJson);
    assert.ok(Array.isArray(json));
    for (const item of json) assert.deepEqual(Object.keys(item as object).slice(0, 4), ["id", "state", "alive", "vms"]);
    assert.deepEqual(json[0], { ...host });
    assert.deepEqual((json[1] as { id: string; state: string; alive: boolean; vms: number }).alive, false);
  });

  it("vm list: an array of VMs starting with name, uuid, host, state, restart", () => {
    const vms = decodeVmList(throughTheWire("VmService", "List", { vms: [vm] }));
    const json = vms.map(output.vmJson);
    assert.deepEqual(Object.keys(json[0] as object).slice(0, 5), ["name", "uuid", "host", "state", "restart"]);
    assert.deepEqual(json[0], { ...vm });
  });

  it("show commands print the full object, every proto field in camelCase", () => {
    assert.deepEqual(output.hostJson(decodeHost(throughTheWire("HostService", "Get", host))), { ...host });
    assert.deepEqual(output.vmJson(decodeVm(throughTheWire("VmService", "Get", vm))), { ...vm });
    assert.deepEqual(output.jobJson(decodeJob(throughTheWire("JobService", "Get", job))), { ...job });
  });

  it("vm show's table has the disk chains, the disk sync, the job blocker and each job; vm list notes a blocked VM", () => {
    const text = output.vmText(decodeVm(throughTheWire("VmService", "Get", vm)));
    assert.match(text, /disk vda:\s+\/var\/lib\/vigil\/web1\.qcow2 <- \/var\/lib\/vigil\/base\.qcow2 \(on h2\)/);
    assert.match(text, /disk sync:\s+synced on h2/);
    assert.match(text, /job blocker:\s+-/);
    assert.match(text, /job bj-0001-vda-3:\s+active-commit vda on h1: finished completed \(recovered\): \/var\/lib\/vigil\/top\.qcow2 is no longer in the chain/);
    const blocked = { ...vm, jobBlocker: "active-commit job bj-0001-vda-3 on h1 is unknown: libvirt is not answering" };
    assert.match(output.vmListText(decodeVmList(throughTheWire("VmService", "List", { vms: [blocked] }))), /blocked: active-commit job bj-0001-vda-3 on h1 is unknown/);
  });

  it("a VM operation carries its outcome, error and resulting VM", () => {
    const operation = decodeVmOperation(
      throughTheWire("VmService", "Start", { vm: "web1", host: "h2", commandId: "c9", outcome: "failed", error: "no memory", result: vm }),
    );
    assert.deepEqual(output.vmOperationJson(operation), { vm: "web1", host: "h2", commandId: "c9", outcome: "failed", error: "no memory", result: { ...vm } });
    const bare = decodeVmOperation(throughTheWire("VmService", "Stop", { vm: "web1", outcome: "succeeded" }));
    assert.equal(bare.result, null);
  });

  it("is stable: the same input always prints the same text", () => {
    const status = decodeClusterStatus(throughTheWire("ClusterService", "Status", clusterStatus));
    assert.equal(output.jsonText(output.clusterStatusJson(status)), output.jsonText(output.clusterStatusJson(status)));
    assert.ok(!output.jsonLine(output.clusterStatusJson(status)).includes("\n"));
  });
});

describe("the decoded views", () => {
  it("match the proto-loader output types field for field (checked by the compiler)", () => {
    assert.equal(Object.keys(sameAsProto).length, 8);
  });
});

describe("decoding refuses replies that do not match control.proto", () => {
  it("throws MalformedReply naming the message and field", () => {
    assert.throws(() => decodeHost({ id: 5 }), (error: unknown) => error instanceof MalformedReply && /Host.*id is not a string/.test(error.message));
    assert.throws(() => decodeHostList({ hosts: "h1" }), MalformedReply);
    assert.throws(() => decodeVm(null), MalformedReply);
  });

  it("fills absent fields with proto3 defaults", () => {
    assert.deepEqual(decodeJob({ id: "j1" }), { ...job, id: "j1", kind: "", vm: "", host: "", target: "", state: "", phase: "", processedBytes: 0, remainingBytes: 0, startedMs: 0, deadlineMs: 0, totalBytes: 0, mode: "", originState: "", updatedMs: 0 });
  });
});

describe("tables", () => {
  it("align columns with two spaces and no trailing blanks", () => {
    assert.equal(
      output.renderTable(["ID", "STATE"], [["h1", "ready"], ["host-22", ""]]),
      ["ID       STATE", "h1       ready", "host-22"].join("\n"),
    );
  });

  it("render cluster status as a summary and a member table", () => {
    const text = output.clusterStatusText(decodeClusterStatus(throughTheWire("ClusterService", "Status", clusterStatus)));
    assert.match(text, /^term: {9}7$/m);
    assert.match(text, /^primary: {6}cp1 \(primary\)$/m);
    assert.match(text, /^maintenance: {2}on$/m);
    assert.match(text, /^ID {3}ADDRESS {8}ROLE {6}HEALTHY {2}COMMIT {2}APPLIED$/m);
    assert.match(text, /^cp2 {2}10\.0\.0\.2:7400 {2}follower {2}no {7}118 {5}117$/m);
  });

  it("list hosts and VMs one per line under a header", () => {
    const hostLines = output.hostListText([host]).split("\n");
    assert.equal(hostLines.length, 2);
    assert.match(hostLines[0] ?? "", /^ID\s+STATE\s+LIVENESS\s+ALIVE\s+CONNECTED\s+VMS/);
    assert.match(hostLines[1] ?? "", /^h1\s+ready\s+alive\s+yes\s+yes\s+3\s+32\s+64 GiB\s+12 GiB\s+1\.50$/);
    const vmLines = output.vmListText([vm, { ...vm, name: "db", pendingReason: "no host of its limit is ready" }]).split("\n");
    assert.match(vmLines[2] ?? "", /pending: no host of its limit is ready$/);
  });

  it("print an empty list as its header alone", () => {
    assert.equal(output.jobListText([]), "ID  KIND  VM  HOST  TARGET  STATE  MODE  PROGRESS  PHASE  STARTED  ERROR");
  });

  it("show a migration's progress: state, percentage of the total, data left, downtime, phase, time left before the deadline", () => {
    const nowMs = job.deadlineMs - 61_500;
    assert.deepEqual(output.jobProgressLines({ ...job, downtimeMs: 35 }, nowMs), [
      "job j12: migrate web1 h1 -> h2: running, 87% of 4 GiB, 512 MiB left, 3 GiB sent, downtime 35 ms, phase memory, 1m2s left",
    ]);
    // Without a total from the server, processed + remaining is the total; never 100% before the end.
    assert.deepEqual(output.jobProgressLines({ ...job, totalBytes: 0, processedBytes: 999, remainingBytes: 1, deadlineMs: 0 }, nowMs), [
      "job j12: migrate web1 h1 -> h2: running, 99% of 1000 B, 1 B left, 999 B sent, phase memory",
    ]);
    // A mostly empty guest: libvirt skips zero pages, so little is sent while much is done (as virsh counts it).
    assert.equal(output.jobPercentText({ ...job, processedBytes: 2 * 2 ** 20, remainingBytes: 256 * 2 ** 20, totalBytes: 1024 * 2 ** 20 }), "75% of 1 GiB");
    assert.deepEqual(output.jobProgressLines({ ...job, processedBytes: 0, remainingBytes: 0, totalBytes: 0, state: "pending", phase: "" }, job.deadlineMs + 5_000), [
      "job j12: migrate web1 h1 -> h2: pending, 0s left",
    ]);
  });

  it("show adjudication rechecks with the time left, and a final job with its error and no countdown", () => {
    const adjudicating = { ...job, state: "adjudicating", phase: "recheck 3: both hosts report the VM running", processedBytes: 0, remainingBytes: 0, totalBytes: 0 };
    assert.deepEqual(output.jobProgressLines(adjudicating, job.deadlineMs - 250_000), [
      "job j12: migrate web1 h1 -> h2: adjudicating, phase recheck 3: both hosts report the VM running, 4m10s left",
    ]);
    assert.deepEqual(output.jobProgressLines({ ...adjudicating, state: "rolled-back", phase: "", mode: "live", error: "destination h2 does not run web1" }, job.deadlineMs - 1), [
      "job j12: migrate web1 h1 -> h2: rolled-back, destination h2 does not run web1",
    ]);
    assert.match(output.jobProgressLines({ ...job, mode: "shutdown", state: "running" }, 0)[0] ?? "", /^job j12: migrate web1 h1 -> h2: running, shutdown migration, 87%/);
    // A final phase worded like the error is said once.
    assert.deepEqual(output.jobProgressLines({ ...adjudicating, state: "failed", phase: "h2 refused", error: "h2 refused" }, 0), ["job j12: migrate web1 h1 -> h2: failed, phase h2 refused"]);
  });

  it("show a flush as a line for the flush and one per VM step", () => {
    const flush: Job = {
      ...job,
      id: "f1",
      kind: "flush",
      vm: "",
      target: "",
      phase: "migrating db",
      processedBytes: 0,
      remainingBytes: 0,
      totalBytes: 0,
      deadlineMs: 0,
      steps: [
        { ...job, id: "j1", vm: "web1", state: "succeeded", processedBytes: 64 * 2 ** 20, remainingBytes: 0, totalBytes: 64 * 2 ** 20, downtimeMs: 31, phase: "", parent: "f1" },
        { ...job, id: "j2", vm: "db", target: "h3", processedBytes: 16 * 2 ** 20, remainingBytes: 48 * 2 ** 20, totalBytes: 64 * 2 ** 20, deadlineMs: 0, phase: "memory", parent: "f1" },
        { ...job, id: "j3", kind: "shutdown", vm: "big", target: "", state: "pending", processedBytes: 0, remainingBytes: 0, totalBytes: 0, deadlineMs: 0, phase: "no valid target", parent: "f1" },
      ],
    };
    assert.deepEqual(output.jobProgressLines(flush, 0), [
      "job f1: flush h1: running, 1 of 3 VMs done, phase migrating db",
      "  web1 h1 -> h2: succeeded, 100% of 64 MiB, 0 B left, 64 MiB sent, downtime 31 ms",
      "  db h1 -> h3: running, 25% of 64 MiB, 48 MiB left, 16 MiB sent, phase memory",
      "  big (shutdown): pending, phase no valid target",
    ]);
    const text = output.jobText(flush);
    assert.match(text, /^steps: +1 of 3 done$/m);
    assert.match(text, /^STEP +KIND +VM +HOST +TARGET +STATE +MODE +PROGRESS +DOWNTIME +PHASE +ERROR$/m);
    assert.match(text, /^j2 +migrate +db +h1 +h3 +running +live +25% of 64 MiB +- +memory$/m);
    assert.match(output.jobListText([flush]).split("\n")[1] ?? "", /^f1 +flush +- +h1 +- +running +live +1\/3 VMs +migrating db/);
  });

  it("show every field of a job", () => {
    const text = output.jobText({ ...job, forceLive: true, parent: "f9", downtimeMs: 40 });
    for (const [label, value] of [
      ["id", "j12"],
      ["kind", "migrate"],
      ["vm", "web1"],
      ["host", "h1"],
      ["target", "h2"],
      ["state", "running"],
      ["mode", "live"],
      ["force live", "yes"],
      ["phase", "memory"],
      ["error", "-"],
      ["progress", "87% of 4 GiB"],
      ["processed", "3 GiB"],
      ["remaining", "512 MiB"],
      ["total", "4 GiB"],
      ["downtime", "40 ms"],
      ["origin state", "running"],
      ["parent", "f9"],
      ["started", "2023-11-14T22:13:20.000Z"],
      ["updated", "2023-11-14T22:13:30.000Z"],
      ["finished", "-"],
      ["deadline", "2023-11-14T22:18:20.000Z"],
      ["steps", "-"],
    ]) {
      assert.match(text, new RegExp(`^${label}: +${value}$`, "m"), label);
    }
  });

  it("redraw a block in place: back up to its first line, clear below, clip to the width", () => {
    assert.equal(output.redrawText(0, ["a", "b"], 80), "\r\x1b[Ja\nb");
    assert.equal(output.redrawText(1, ["a"], undefined), "\r\x1b[Ja");
    assert.equal(output.redrawText(3, ["x".repeat(40)], 30), `\x1b[2A\r\x1b[J${"x".repeat(29)}`);
  });

  it("show a VM's migration fallback and the job holding it", () => {
    const text = output.vmText({ ...vm, migrationFallback: false, activeJob: "j12" });
    assert.match(text, /^migration fallback: +off \(live only\)$/m);
    assert.match(text, /^active job: +j12$/m);
    assert.match(output.vmText({ ...vm, migrationFallback: true, activeJob: "" }), /^active job: +-$/m);
  });
});

describe("units", () => {
  it("format bytes in binary units with at most one decimal", () => {
    assert.equal(output.formatBytes(0), "0 B");
    assert.equal(output.formatBytes(1536), "1.5 KiB");
    assert.equal(output.formatBytes(64 * 2 ** 30), "64 GiB");
    assert.equal(output.formatBytes(150 * 2 ** 20), "150 MiB");
  });

  it("format durations the way --wait-timeout reads them", () => {
    assert.equal(output.formatDuration(250), "250ms");
    assert.equal(output.formatDuration(1500), "1.5s");
    assert.equal(output.formatDuration(30 * 60_000), "30m");
    assert.equal(output.formatDuration(5_400_000), "1h30m");
  });

  it("format times as UTC ISO and 'never' as a dash", () => {
    assert.equal(output.formatTime(0), "-");
    assert.equal(output.formatTime(Date.UTC(2025, 2, 1, 12)), "2025-03-01T12:00:00.000Z");
  });
});
