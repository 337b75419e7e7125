// Applies committed log entries to the replicated tables. Deterministic: the
// result depends only on the tables and the entry (never on this replica's
// clock), so every replica ends in the same state. The caller runs each batch
// in one transaction together with advancing applied_index (DESIGN §3).
import type { AgentEvent__Output } from "../../common/generated/vigil/v1/AgentEvent.js";
import type { DomainStatus__Output } from "../../common/generated/vigil/v1/DomainStatus.js";
import { assert } from "../../common/assert.js";
import type { EntryPayload, StateCommand, VmPolicy } from "./commands.js";
import type { Statement } from "better-sqlite3";
import { StatementCache, StateReader, type Db, type ReportedVm, type VmRecord } from "./store.js";
import { JobApplier, type JobApplyContext } from "./apply-jobs.js";
import { OrchestrationApplier, type OrchestrationApplyContext } from "./apply-orchestrations.js";
import { aliveDomainStates } from "./domain-states.js";

/** What applying an entry tells the processes waiting on it (API calls, streams). */
export type AppliedNotice =
  | {
      kind: "CommandResult";
      hostId: string;
      commandId: string;
      outcome: string;
      error: string;
      /** The domain as the agent saw it after the command (QueryDomain's answer), when it said. */
      domain: DomainStatus__Output | null;
      /** A QueryDomain answered that this hypervisor has no such domain. */
      domainAbsent: boolean;
    }
  | { kind: "EventsApplied"; hostId: string; appliedSeq: number }
  | { kind: "ClusterEventAdded" }
  | { kind: "PrimaryTakeover"; term: number; replicaId: string };

interface ApplyContext {
  index: number;
  payload: EntryPayload;
  notices: AppliedNotice[];
  /**
   * VMs a host's events report, known before they applied to have no unresolved job: a sighting of
   * one of them cannot concern a job (the host's events add jobs only of that host, which a sighting
   * ignores), so its per-VM job query is skipped. Set per host's events by reportedVms.
   */
  vmsWithoutUnresolvedJobs?: ReadonlySet<string>;
}

/**
 * VM rows this entry has read, by UUID, kept current as the entry changes them; null means known
 * not to exist. Reading an entry's VMs in one query instead of one per event halves the cost of a
 * lifecycle event (bench: a point query is 5-9 us, the rest of the event about as much again).
 */
type VmRows = Map<string, ReportedVm | null>;


export class StateMachine {
  readonly reader: StateReader;
  private readonly statements: StatementCache;
  private readonly jobs: JobApplier;
  private readonly orchestrations: OrchestrationApplier;

  constructor(readonly db: Db) {
    this.reader = new StateReader(db);
    this.statements = new StatementCache(db);
    this.jobs = new JobApplier((sql) => this.statement(sql), this.reader);
    this.orchestrations = new OrchestrationApplier((sql) => this.statement(sql), this.reader);
  }

  private orchestrationContext(context: ApplyContext): OrchestrationApplyContext {
    return {
      atMs: context.payload.atMs,
      term: context.payload.term,
      event: (event) => this.event(context, event),
      trace: (vm, entry) => this.traceVm(context, vm, entry),
    };
  }

  private jobContext(context: ApplyContext): JobApplyContext {
    return { atMs: context.payload.atMs, event: (event) => this.event(context, event) };
  }

  private statement(sql: string): Statement {
    return this.statements.get(sql);
  }

  /** Records a configuration change the Raft core has put in force (the core owns membership itself). */
  applyMembershipChange(index: number, change: { kind: string; replica: string }): void {
    assert(this.db.inTransaction, "applyMembershipChange runs inside the batch transaction");
    const verb = change.kind === "addVoter" ? "added to" : "removed from";
    this.statement("INSERT INTO cluster_events (log_index, at_ms, term, kind, host, vm, job, message) VALUES (?, 0, 0, 'member', '', '', '', ?)")
      .run(index, `member ${change.replica} ${verb} the voters`);
  }

  /** Applies one entry. Must run inside the caller's transaction. */
  applyEntry(index: number, payload: EntryPayload): AppliedNotice[] {
    assert(this.db.inTransaction, "applyEntry runs inside the batch transaction");
    const context: ApplyContext = { index, payload, notices: [] };
    this.dispatch(context, payload.command);
    return context.notices;
  }

  setAppliedIndex(index: number): void {
    assert(this.db.inTransaction, "applied_index advances inside the batch transaction");
    this.statement("INSERT INTO meta (key, value) VALUES ('applied_index', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(index));
  }

  private dispatch(context: ApplyContext, command: StateCommand): void {
    switch (command.kind) {
      case "HostHello":
        return this.applyHostHello(context, command);
      case "AgentEvents":
        return this.applyAgentEvents(context, command.hostId, command.events);
      case "AgentEventBatches":
        for (const batch of command.hosts) this.applyAgentEvents(context, batch.hostId, batch.events);
        return;
      case "PrimaryTakeover":
        return this.applyPrimaryTakeover(context, command.term, command.replicaId);
      case "PrimaryRelinquish":
        this.statement("UPDATE primary_lease SET state = 'relinquish', since_ms = ? WHERE id = 1 AND term = ? AND replica = ?").run(context.payload.atMs, command.term, command.replicaId);
        return this.event(context, { kind: "primary", message: `primary: replica ${command.replicaId} relinquishes term ${command.term} to ${command.to}` });
      case "SetClusterMaintenance":
        this.setSetting("cluster_maintenance", command.on ? "on" : "off");
        return this.event(context, { kind: "maintenance", message: `cluster maintenance ${command.on ? "on" : "off"}` });
      case "SetConfig":
        this.statement("INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(command.key, command.value);
        return this.event(context, { kind: "config", message: `config ${command.key} = ${command.value}` });
      case "SetVmPolicy":
        return this.applyVmPolicy(context, command.vmUuid, command.policy);
      case "SetHostMaintenance":
        this.statement("UPDATE hosts SET maintenance = ? WHERE id = ?").run(command.on ? 1 : 0, command.hostId);
        return this.event(context, { kind: "maintenance", host: command.hostId, message: `host ${command.hostId} maintenance ${command.on ? "on" : "off"}` });
      case "SetMemberAddress":
        this.statement("INSERT INTO members (id, address) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET address = excluded.address").run(command.replicaId, command.address);
        return this.event(context, { kind: "member", message: `member ${command.replicaId} at ${command.address}` });
      case "VmRequested":
        return this.applyVmRequested(context, command);
      case "HostLiveness":
        return this.applyHostLiveness(context, command);
      case "FenceSuppressed":
        return this.event(context, { kind: "fence", host: command.hostId, message: `host ${command.hostId}: fencing suppressed: ${command.reason}` });
      case "SkipTraceClear":
      case "SkipTraceOrphan":
        return this.applySkipTraceEnd(context, command);
      case "SkipTraceExpire":
        return this.applySkipTraceExpire(context, command.vmUuids, command.timeoutMs);
      case "VmRestartPlanned":
        return this.applyRestartPlanned(context, command);
      case "VmHaState": {
        const vm = this.reader.vmByUuid(command.vmUuid);
        if (vm === undefined || (vm.haState === command.haState && vm.haReason === command.reason)) return;
        this.statement("UPDATE vms SET ha_state = ?, ha_reason = ? WHERE uuid = ?").run(command.haState, command.reason, vm.uuid);
        const what = command.haState === "" ? "HA state cleared" : command.haState === "pending" ? "autorestart-pending" : `HA ${command.haState}`;
        return this.event(context, { kind: "ha", host: vm.host ?? "", vm: vm.name, message: `vm ${vm.name}: ${what}: ${command.reason}` });
      }
      case "DiskSyncRequested":
      case "JobEscalated":
        return this.jobs.command(this.jobContext(context), command);
      case "MigrationRequested":
      case "MigrationStep":
      case "MigrationAdjudicating":
      case "MigrationSucceeded":
      case "MigrationEnded":
      case "JobCancelRequested":
      case "FlushRequested":
      case "FlushVmStep":
      case "FlushStepTimedOut":
      case "FlushRecordLastHost":
      case "FlushPhase":
      case "FlushFinished":
        return this.orchestrations.command(this.orchestrationContext(context), command);
    }
  }

  private applyVmRequested(context: ApplyContext, command: Extract<StateCommand, { kind: "VmRequested" }>): void {
    const vm = this.reader.vmByUuid(command.vmUuid);
    if (vm === undefined) return;
    // An operator's state request supersedes whatever HA was waiting to do for this VM.
    this.statement("UPDATE vms SET desired_state = ?, ha_state = '', ha_reason = '' WHERE uuid = ?").run(command.desiredState, vm.uuid);
    if (command.host !== undefined && command.host !== "" && vm.host !== null && command.host !== vm.host) {
      // A start on another host moves ownership before the command goes out, as an HA restart does.
      this.statement("UPDATE vms SET host = ?, last_host = ? WHERE uuid = ?").run(command.host, vm.host, vm.uuid);
      this.event(context, { kind: "vm", host: command.host, vm: vm.name, message: `vm ${vm.name}: moves from ${vm.host} to ${command.host} (operator start)` });
    }
    if (command.commandId === "") return;
    const operation = command.operation ?? (command.desiredState === "running" ? "start" : "stop");
    this.traceVm(context, vm, { operation, commandId: command.commandId, host: command.host ?? vm.host ?? "" });
  }

  /** Puts `vm` in the skip-trace set, owned by the entry's term (DESIGN §7); replaces an older entry. */
  private traceVm(context: ApplyContext, vm: VmRecord, entry: { operation: string; commandId: string; host: string }): void {
    this.statement(
        `INSERT INTO skip_trace (vm_uuid, term, operation, command_id, host, since_ms, orphaned_at_ms) VALUES (?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (vm_uuid) DO UPDATE SET term = excluded.term, operation = excluded.operation, command_id = excluded.command_id,
           host = excluded.host, since_ms = excluded.since_ms, orphaned_at_ms = NULL`,
      )
      .run(vm.uuid, context.payload.term, entry.operation, entry.commandId, entry.host, context.payload.atMs);
    this.event(context, { kind: "skip-trace", host: entry.host, vm: vm.name, message: `vm ${vm.name}: skip-trace ${entry.operation} on ${entry.host} (term ${context.payload.term}, command ${entry.commandId})` });
  }

  private applyHostLiveness(context: ApplyContext, command: Extract<StateCommand, { kind: "HostLiveness" }>): void {
    const host = this.reader.host(command.hostId);
    if (host === undefined || (command.from !== undefined && host.liveness !== command.from)) return;
    const attempts = command.liveness === "alive" ? 0 : (command.fenceAttempt ?? host.fenceAttempts);
    this.statement("UPDATE hosts SET liveness = ?, liveness_reason = ?, liveness_since_ms = ?, missed_keepalives = ?, fence_attempts = ? WHERE id = ?")
      .run(command.liveness, command.reason, context.payload.atMs, command.missedKeepalives, attempts, host.id);
    const change = host.liveness === command.liveness ? command.liveness : `${host.liveness} => ${command.liveness}`;
    this.event(context, { kind: "liveness", host: host.id, message: `host ${host.id}: ${change} (${command.reason})` });
    if (command.liveness !== "fenced") return;
    // A confirmed fence means nothing runs there any more: what the dead agent last said is history,
    // and an operation in flight there can no longer complete (continue-trace now, not at a TTL).
    for (const vm of this.reader.listVms(host.id)) {
      if (aliveDomainStates.has(vm.state)) this.setVmState(context, vm, "shutoff", `host ${host.id} fenced`, new Map());
    }
    const traced = this.statement("SELECT vm_uuid AS vmUuid, operation, command_id AS commandId FROM skip_trace WHERE host = ? ORDER BY vm_uuid").all(host.id) as { vmUuid: string; operation: string; commandId: string }[];
    for (const entry of traced) {
      // A migration from (or to) the fenced host is not over: its adjudication decides, with the
      // confirmed fence counting as "not alive" there (DESIGN §8).
      if (this.orchestrations.heldByActiveJob(entry.vmUuid, entry.commandId)) continue;
      this.statement("DELETE FROM skip_trace WHERE vm_uuid = ?").run(entry.vmUuid);
      const name = this.reader.vmByUuid(entry.vmUuid)?.name ?? entry.vmUuid;
      this.event(context, { kind: "skip-trace", host: host.id, vm: name, message: `vm ${name}: continue-trace (${entry.operation}): host ${host.id} fenced` });
    }
  }

  /** Continue-trace on the primary's word: the command never reached the agent (clear), or its result is overdue (orphan). */
  private applySkipTraceEnd(context: ApplyContext, command: Extract<StateCommand, { kind: "SkipTraceClear" | "SkipTraceOrphan" }>): void {
    const entry = this.reader.skipTraceOf(command.vmUuid);
    if (entry === undefined || entry.commandId !== command.commandId) return;
    const name = this.reader.vmByUuid(command.vmUuid)?.name ?? command.vmUuid;
    if (command.kind === "SkipTraceClear") {
      this.statement("DELETE FROM skip_trace WHERE vm_uuid = ?").run(entry.vmUuid);
      return this.event(context, { kind: "skip-trace", host: entry.host, vm: name, message: `vm ${name}: continue-trace (${entry.operation}): ${command.reason}` });
    }
    if (entry.orphanedAtMs !== null) return;
    this.statement("UPDATE skip_trace SET orphaned_at_ms = ? WHERE vm_uuid = ?").run(context.payload.atMs, entry.vmUuid);
    this.event(context, { kind: "skip-trace", host: entry.host, vm: name, message: `vm ${name}: skip-trace ${entry.operation} orphaned: ${command.reason}` });
  }

  private applySkipTraceExpire(context: ApplyContext, vmUuids: string[], timeoutMs: number): void {
    for (const uuid of vmUuids) {
      const entry = this.reader.skipTraceOf(uuid);
      if (entry === undefined || entry.orphanedAtMs === null) continue;
      this.statement("DELETE FROM skip_trace WHERE vm_uuid = ?").run(uuid);
      const name = this.reader.vmByUuid(uuid)?.name ?? uuid;
      this.event(context, { kind: "skip-trace", host: entry.host, vm: name, message: `vm ${name}: orphaned skip-trace ${entry.operation} (term ${entry.term}) expired after ${timeoutMs / 1000} s` });
    }
  }

  private applyRestartPlanned(context: ApplyContext, command: Extract<StateCommand, { kind: "VmRestartPlanned" }>): void {
    const vm = this.reader.vmByUuid(command.vmUuid);
    if (vm === undefined) return;
    // Bounded: only the recent restarts matter to the max-restarts window.
    const history = [...vm.restartHistory, context.payload.atMs].slice(-100);
    const moves = command.fromHost !== command.toHost;
    // Ownership moves in this one entry, before the start command is sent (DESIGN §6, §10.2).
    this.statement("UPDATE vms SET host = ?, last_host = ?, desired_state = 'running', ha_state = 'restarting', ha_reason = ?, restart_history = ? WHERE uuid = ?")
      .run(command.toHost, moves ? command.fromHost : vm.lastHost, command.reason, JSON.stringify(history), vm.uuid);
    const where = moves ? `from ${command.fromHost} on ${command.toHost}` : `on ${command.toHost}`;
    this.event(context, { kind: "ha", host: command.toHost, vm: vm.name, message: `vm ${vm.name}: HA restart ${where} (${command.reason})` });
    this.traceVm(context, { ...vm, host: command.toHost }, { operation: "ha-restart", commandId: command.commandId, host: command.toHost });
  }

  /** Continue-trace: the result of the operation that put the VM in the skip-trace set is committed. */
  private continueTrace(context: ApplyContext, hostId: string, commandId: string, outcome: string, error: string): void {
    const entry = this.statement("SELECT vm_uuid AS vmUuid FROM skip_trace WHERE command_id = ?").get(commandId) as { vmUuid: string } | undefined;
    if (entry === undefined) return;
    const traced = this.reader.skipTraceOf(entry.vmUuid)!;
    const vm = this.reader.vmByUuid(entry.vmUuid);
    this.statement("DELETE FROM skip_trace WHERE vm_uuid = ?").run(entry.vmUuid);
    const name = vm?.name ?? entry.vmUuid;
    const succeeded = outcome === "COMMAND_OUTCOME_SUCCEEDED" || outcome === "COMMAND_OUTCOME_DUPLICATE";
    const orphan = traced.orphanedAtMs === null ? "" : ", orphan cleared";
    this.event(context, { kind: "skip-trace", host: hostId, vm: name, message: `vm ${name}: continue-trace (${traced.operation} ${succeeded ? "succeeded" : "failed"}${orphan})` });
    if (vm === undefined || traced.operation !== "ha-restart" || vm.haState !== "restarting") return;
    const [haState, reason] = succeeded ? ["", ""] : ["pending", `HA start on ${hostId} failed: ${error || outcome}`];
    this.statement("UPDATE vms SET ha_state = ?, ha_reason = ? WHERE uuid = ?").run(haState, reason, vm.uuid);
    if (!succeeded) this.event(context, { kind: "ha", host: hostId, vm: name, message: `vm ${name}: autorestart-pending: ${reason}` });
  }

  private applyHostHello(context: ApplyContext, hello: Extract<StateCommand, { kind: "HostHello" }>): void {
    const existing = this.reader.host(hello.hostId);
    if (existing === undefined) {
      this.statement(
          `INSERT INTO hosts (id, state, boot_id, agent_version, migration_uri, applied_seq, cpus, memory_bytes, registered_ms)
           VALUES (?, 'ready', ?, ?, ?, 0, ?, ?, ?)`,
        )
        .run(hello.hostId, hello.bootId, hello.agentVersion, hello.migrationUri, hello.cpus, hello.memoryBytes, context.payload.atMs);
      this.storeSelfFence(hello);
      return this.event(context, { kind: "host", host: hello.hostId, message: `host ${hello.hostId} registered (boot ${hello.bootId})` });
    }
    this.statement("UPDATE hosts SET boot_id = ?, agent_version = ?, migration_uri = ?, cpus = ?, memory_bytes = ? WHERE id = ?")
      .run(hello.bootId, hello.agentVersion, hello.migrationUri, hello.cpus, hello.memoryBytes, hello.hostId);
    this.storeSelfFence(hello);
    if (existing.bootId !== hello.bootId) {
      this.event(context, { kind: "host", host: hello.hostId, message: `host ${hello.hostId} rebooted: boot ${existing.bootId} => ${hello.bootId}` });
    }
  }

  /** The agent's own self-fence setting: the one the primary trusts for method `self` (DESIGN §5). */
  private storeSelfFence(hello: Extract<StateCommand, { kind: "HostHello" }>): void {
    if (hello.selfFenceMode === undefined) return;
    this.statement("UPDATE hosts SET self_fence_mode = ?, self_fence_timeout_ms = ? WHERE id = ?").run(hello.selfFenceMode, hello.selfFenceTimeoutMs ?? 0, hello.hostId);
  }

  private applyAgentEvents(context: ApplyContext, hostId: string, events: AgentEvent__Output[]): void {
    const host = this.statement("SELECT applied_seq AS appliedSeq FROM hosts WHERE id = ?").get(hostId) as { appliedSeq: number } | undefined;
    assert(host !== undefined, "the gateway commits HostHello before any event of that host");
    let appliedSeq = host.appliedSeq;
    let applied = 0;
    const vms = this.reportedVms(context, events.filter((event) => event.seq > appliedSeq));
    for (const event of events) {
      // Exactly-once: a resent event (seq already applied) changes nothing (DESIGN §4).
      if (event.seq <= appliedSeq) continue;
      this.applyAgentEvent(context, hostId, event, vms);
      appliedSeq = event.seq;
      applied += 1;
    }
    this.statement("UPDATE hosts SET applied_seq = ?, events_applied = events_applied + ? WHERE id = ?").run(appliedSeq, applied, hostId);
    context.notices.push({ kind: "EventsApplied", hostId, appliedSeq });
  }

  /**
   * The rows of the VMs that `events` report one by one (lifecycle, command results), read before
   * they apply, each with whether it has an unresolved job (context.vmsWithoutUnresolvedJobs). One
   * point query per VM: a host's events in one entry name a few VMs, and a query over json_each cost
   * ~50 us whatever the count (bench/ingest/apply-cost.ts), more than the events themselves.
   */
  private reportedVms(context: ApplyContext, events: readonly AgentEvent__Output[]): VmRows {
    const rows: VmRows = new Map();
    const withoutJobs = new Set<string>();
    context.vmsWithoutUnresolvedJobs = withoutJobs;
    const read = this.statement(
      `SELECT uuid, name, host, state, reason, vcpus, memory_bytes AS memoryBytes,
         EXISTS (SELECT 1 FROM vm_jobs WHERE vm_uuid = vms.uuid AND state <> 'finished') AS unresolvedJobs
       FROM vms WHERE uuid = ?`,
    );
    for (const event of events) {
      const domain = event.body === "lifecycle" ? event.lifecycle?.domain : event.body === "commandResult" ? event.commandResult?.domain : null;
      if (!domain) continue;
      const uuid = domain.uuid.toLowerCase();
      if (rows.has(uuid)) continue;
      const found = read.get(uuid) as (ReportedVm & { unresolvedJobs: number }) | undefined;
      if (found === undefined) {
        rows.set(uuid, null);
        continue;
      }
      const { unresolvedJobs, ...row } = found;
      rows.set(uuid, row);
      if (unresolvedJobs === 0) withoutJobs.add(uuid);
    }
    return rows;
  }

  private applyAgentEvent(context: ApplyContext, hostId: string, event: AgentEvent__Output, vms: VmRows): void {
    switch (event.body) {
      case "inventory":
        return this.applyInventory(context, hostId, event.inventory?.domains ?? [], vms);
      case "lifecycle": {
        const lifecycle = event.lifecycle;
        // A recovered lifecycle event happened while the agent was down (DESIGN §9): say so.
        if (lifecycle?.domain) this.upsertDomain(context, hostId, lifecycle.domain, vms, event.recovered ? ", while the agent was down" : "");
        return;
      }
      case "commandResult": {
        const result = event.commandResult;
        if (result === null || result === undefined) return;
        this.statement("INSERT OR IGNORE INTO command_results (command_id, host, term, outcome, error, at_ms) VALUES (?, ?, ?, ?, ?, ?)")
          .run(result.commandId, hostId, result.term, result.outcome, result.error, context.payload.atMs);
        if (result.domain) this.upsertDomain(context, hostId, result.domain, vms);
        this.continueTrace(context, hostId, result.commandId, result.outcome, result.error);
        this.orchestrations.stepResult(this.orchestrationContext(context), result.commandId, result.outcome, result.error);
        context.notices.push({ kind: "CommandResult", hostId, commandId: result.commandId, outcome: result.outcome, error: result.error, domain: result.domain ?? null, domainAbsent: result.domainAbsent });
        return;
      }
      case "jobStarted":
        if (event.jobStarted) this.jobs.jobStarted(this.jobContext(context), hostId, event.jobStarted, event.recovered);
        return;
      case "jobFinished":
        if (event.jobFinished) this.jobs.jobFinished(this.jobContext(context), hostId, event.jobFinished, event.recovered);
        return;
      case "diskChain":
        if (event.diskChain) this.jobs.diskChain(this.jobContext(context), hostId, event.diskChain);
        return;
      case "jobProgress":
        if (event.jobProgress) this.orchestrations.progress(this.orchestrationContext(context), event.jobProgress);
        return;
      default:
        // Raw block-job events are recorded by the issue that owns them; a contact probe (self-fence) only advances the host's applied sequence.
        return;
    }
  }

  private applyInventory(context: ApplyContext, hostId: string, domains: DomainStatus__Output[], vms: VmRows): void {
    // One query for the host's VMs instead of one per reported domain: a full inventory of an
    // unchanged host then writes nothing (bench/scale sync cycle: 26 us per VM before).
    const owned = this.reader.vmsOwnedBy(hostId);
    for (const [uuid, vm] of owned) vms.set(uuid, vm);
    const reported = new Set<string>();
    for (const domain of domains) {
      const uuid = domain.uuid.toLowerCase();
      reported.add(uuid);
      this.upsertDomain(context, hostId, domain, vms);
    }
    // Ownership never moves to another host by a report, so a VM owned before and not reported is
    // exactly one that goes missing now; the ordered query keeps the event order of before.
    const goneMissing = [...owned.values()].some((vm) => !reported.has(vm.uuid) && vm.state !== "missing");
    if (!goneMissing) return;
    for (const vm of this.reader.listVms(hostId)) {
      if (reported.has(vm.uuid) || vm.state === "missing") continue;
      this.setVmState(context, vm, "missing", "not in the host's inventory", vms);
    }
  }

  /** `vms` holds the rows the caller already read; a VM it does not know of is read here. `note` ends a state change's event. */
  private upsertDomain(context: ApplyContext, hostId: string, domain: DomainStatus__Output, vms: VmRows, note = ""): void {
    const uuid = domain.uuid.toLowerCase();
    if (context.vmsWithoutUnresolvedJobs?.has(uuid) !== true) this.jobs.noteSighting(this.jobContext(context), hostId, uuid, domain.state);
    const existing = vms.has(uuid) ? vms.get(uuid) : this.reader.vmByUuid(uuid);
    if (existing === undefined || existing === null) {
      this.statement(
          `INSERT INTO vms (uuid, name, host, state, reason, vcpus, memory_bytes, desired_state, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(uuid, domain.name, hostId, domain.state, domain.reason, domain.vcpus, domain.memoryBytes, aliveDomainStates.has(domain.state) ? "running" : "", context.payload.atMs);
      vms.set(uuid, { uuid, name: domain.name, host: hostId, state: domain.state, reason: domain.reason, vcpus: domain.vcpus, memoryBytes: Number(domain.memoryBytes) });
      return this.event(context, { kind: "vm", host: hostId, vm: domain.name, message: `vm ${domain.name}: discovered on ${hostId}, ${domain.state} (${domain.reason})` });
    }
    // Ownership (which host may run a VM) changes only by an operation vigil decides (migration,
    // HA restart), never by a report: a defined-but-off copy elsewhere is ignored, and a running
    // one is recorded as a conflict for the operator, owner unchanged.
    const ownedHere = existing.host === hostId || existing.host === null;
    vms.set(uuid, existing);
    // Discovery: a VM defined on several hosts (shared storage) is owned by the host reporting it
    // running, as long as vigil has decided nothing about it yet (no request, never seen running,
    // no operation in flight).
    const adopt = !ownedHere && !aliveDomainStates.has(existing.state) && aliveDomainStates.has(domain.state) && this.undecided(uuid);
    if (adopt) this.event(context, { kind: "vm", host: hostId, vm: domain.name, message: `vm ${domain.name}: found running on ${hostId}; ${existing.host} only defines it` });
    if (!ownedHere && !adopt) {
      // The target of a migration in flight is expected to run the VM: that is no conflict (DESIGN §8).
      if (aliveDomainStates.has(domain.state) && !this.orchestrations.expectedOn(uuid, hostId)) {
        this.event(context, { kind: "conflict", host: hostId, vm: domain.name, message: `vm ${domain.name}: reported ${domain.state} on ${hostId}, but it belongs to ${existing.host}` });
      }
      return;
    }
    // Only a change is written: updated_ms is when the row last changed. A state change alone (the
    // usual lifecycle event) is one statement that sets neither name nor host, so SQLite leaves
    // their indexes alone; only the HA partial index (schema step 5) may change with the state.
    const attributesChanged = existing.name !== domain.name || existing.host !== hostId || existing.vcpus !== domain.vcpus || existing.memoryBytes !== Number(domain.memoryBytes);
    const stateChanged = existing.state !== domain.state || existing.reason !== domain.reason;
    if (!attributesChanged && !stateChanged) return;
    if (attributesChanged) {
      this.statement("UPDATE vms SET name = ?, host = ?, vcpus = ?, memory_bytes = ?, updated_ms = ? WHERE uuid = ?").run(domain.name, hostId, domain.vcpus, domain.memoryBytes, context.payload.atMs, uuid);
    }
    if (stateChanged) this.writeVmState(context, uuid, domain.state, domain.reason);
    vms.set(uuid, { uuid, name: domain.name, host: hostId, state: domain.state, reason: domain.reason, vcpus: domain.vcpus, memoryBytes: Number(domain.memoryBytes) });
    if (stateChanged) this.event(context, { kind: "vm", host: hostId, vm: domain.name, message: `vm ${domain.name}: ${existing.state} => ${domain.state} (${domain.reason})${note}` });
  }

  /** Vigil has decided nothing about the VM yet: no request on record, no operation in flight. */
  private undecided(uuid: string): boolean {
    const row = this.statement("SELECT desired_state AS desiredState FROM vms WHERE uuid = ?").get(uuid) as { desiredState: string } | undefined;
    return row?.desiredState === "" && this.reader.skipTraceOf(uuid) === undefined;
  }

  /**
   * Records a VM's new state. A VM found alive with no request on record is meant to run: restart
   * policy `always` restarts it when it stops unexpectedly (DESIGN §6).
   */
  private writeVmState(context: ApplyContext, uuid: string, state: string, reason: string): void {
    this.statement("UPDATE vms SET state = ?, reason = ?, updated_ms = ?, desired_state = CASE WHEN ? = 1 AND desired_state = '' THEN 'running' ELSE desired_state END WHERE uuid = ?")
      .run(state, reason, context.payload.atMs, aliveDomainStates.has(state) ? 1 : 0, uuid);
  }

  private setVmState(context: ApplyContext, vm: ReportedVm, state: string, reason: string, vms: VmRows): void {
    if (vm.state === state && vm.reason === reason) return;
    this.writeVmState(context, vm.uuid, state, reason);
    vms.set(vm.uuid, { uuid: vm.uuid, name: vm.name, host: vm.host, state, reason, vcpus: vm.vcpus, memoryBytes: vm.memoryBytes });
    this.event(context, { kind: "vm", host: vm.host ?? "", vm: vm.name, message: `vm ${vm.name}: ${vm.state} => ${state} (${reason})` });
  }

  private applyVmPolicy(context: ApplyContext, vmUuid: string, policy: Partial<VmPolicy>): void {
    const vm = this.reader.vmByUuid(vmUuid);
    if (vm === undefined) return;
    const columns: Record<keyof VmPolicy, [string, (value: never) => string | number]> = {
      restart: ["restart", (value: string) => value],
      priority: ["priority", (value: number) => value],
      limit: ["limit_hosts", (value: string[]) => JSON.stringify(value)],
      selector: ["selector", (value: string) => value],
      autorestart: ["autorestart", (value: boolean) => (value ? 1 : 0)],
      maxRestarts: ["max_restarts", (value: number) => value],
      migrationFallback: ["migration_fallback", (value: boolean) => (value ? 1 : 0)],
    };
    const changes: string[] = [];
    for (const [field, value] of Object.entries(policy) as [keyof VmPolicy, never][]) {
      const [column, encode] = columns[field];
      this.statement(`UPDATE vms SET ${column} = ? WHERE uuid = ?`).run(encode(value), vmUuid);
      changes.push(`${field}=${JSON.stringify(value)}`);
    }
    this.event(context, { kind: "policy", host: vm.host ?? "", vm: vm.name, message: `vm ${vm.name}: policy ${changes.join(" ")}` });
  }

  private applyPrimaryTakeover(context: ApplyContext, term: number, replicaId: string): void {
    this.statement(
        `INSERT INTO primary_lease (id, term, replica, state, since_ms) VALUES (1, ?, ?, 'takeover', ?)
         ON CONFLICT (id) DO UPDATE SET term = excluded.term, replica = excluded.replica, state = excluded.state, since_ms = excluded.since_ms`,
      )
      .run(term, replicaId, context.payload.atMs);
    context.notices.push({ kind: "PrimaryTakeover", term, replicaId });
    this.event(context, { kind: "primary", message: `primary: replica ${replicaId} takes over in term ${term}` });
    this.orphanSkipTrace(context, term);
  }

  /**
   * The departed primary's skip-trace entries become orphans, stamped now: they stay skip-traced
   * until their result arrives or vm.orphanedSkipTimeout passes (DESIGN §7, ZStack ZSTAC-80821).
   */
  private orphanSkipTrace(context: ApplyContext, term: number): void {
    const rows = this.statement("SELECT vm_uuid AS vmUuid, term, operation, host, command_id AS commandId FROM skip_trace WHERE term < ? AND orphaned_at_ms IS NULL ORDER BY vm_uuid")
      .all(term) as { vmUuid: string; term: number; operation: string; host: string; commandId: string }[];
    for (const row of rows) {
      // A migration is a durable job: the new primary resumes it, and it alone ends the entry.
      if (this.orchestrations.heldByActiveJob(row.vmUuid, row.commandId)) continue;
      this.statement("UPDATE skip_trace SET orphaned_at_ms = ? WHERE vm_uuid = ?").run(context.payload.atMs, row.vmUuid);
      const name = this.reader.vmByUuid(row.vmUuid)?.name ?? row.vmUuid;
      this.event(context, { kind: "skip-trace", host: row.host, vm: name, message: `vm ${name}: skip-trace ${row.operation} of term ${row.term} orphaned: the primary changed` });
    }
  }

  private setSetting(key: string, value: string): void {
    this.statement("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  private event(context: ApplyContext, event: { kind: string; host?: string; vm?: string; job?: string; message: string }): void {
    this.statement("INSERT INTO cluster_events (log_index, at_ms, term, kind, host, vm, job, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(context.index, context.payload.atMs, context.payload.term, event.kind, event.host ?? "", event.vm ?? "", event.job ?? "", event.message);
    if (!context.notices.some((notice) => notice.kind === "ClusterEventAdded")) context.notices.push({ kind: "ClusterEventAdded" });
  }
}
