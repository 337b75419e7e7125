// One simulated vigil-agent: the production journal, hypervisor event source, command executor and
// control-plane link, wired as agent/main.ts wires them, on a simulated host.
// The journal's SQLite database is the host's disk: it survives the agent's crash. The host's
// domains keep running without the agent; they stop only when the host loses power.
import Database from "better-sqlite3";
import { DiskSync } from "../../agent/disk-sync.js";
import { CommandExecutor } from "../../agent/executor.js";
import { defaultProgressIntervalMs } from "../../agent/migration.js";
import { HypervisorEventSource } from "../../agent/events.js";
import { defaultScanIntervalMs, JobTracker } from "../../agent/job-tracker.js";
import { Journal } from "../../agent/journal.js";
import { SelfFenceGuard } from "../../agent/self-fence.js";
import { ControlPlaneLink } from "../../agent/stream.js";
import { seededRng } from "../../common/env.js";
import type { Command__Output } from "../../common/generated/vigil/v1/Command.js";
import type { HostStats } from "../../common/generated/vigil/v1/HostStats.js";
import { SimBug } from "./bugs.js";
import type { HostSpec } from "./cluster-spec.js";
import { executingStates, SimHost, SimHypervisor, SimImageStorage } from "./hypervisor.js";
import { ProcessSlot } from "./scheduler.js";
import { cachePreparedStatements } from "./statement-cache.js";
import { SimWatchdog } from "./watchdog.js";
import type { World } from "./world.js";

export const agentVersion = "0.1.0-sim";

export interface AgentProcess {
  readonly incarnation: number;
  readonly journal: Journal;
  readonly hypervisor: SimHypervisor;
  readonly events: HypervisorEventSource;
  readonly executor: CommandExecutor;
  readonly jobs: JobTracker;
  readonly diskSync: DiskSync;
  readonly link: ControlPlaneLink;
  readonly selfFence: SelfFenceGuard | null;
}

export class AgentNode {
  readonly slot: ProcessSlot;
  readonly host: SimHost;
  /** The host's disk: the journal's database. */
  readonly journalDb: Database.Database;
  process: AgentProcess | null = null;
  /** The last command this agent received (for `redeliver`). */
  lastCommand: Command__Output | null = null;
  /** The host's watchdog device, when its agent self-fences in watchdog mode. */
  readonly watchdog: SimWatchdog | null;

  constructor(
    private readonly world: World,
    readonly spec: HostSpec,
  ) {
    this.slot = new ProcessSlot(spec.id);
    world.network.register(this.slot);
    const libvirtd = new ProcessSlot(`${spec.id}/libvirtd`);
    libvirtd.state = "running";
    libvirtd.incarnation = 1;
    this.host = new SimHost(spec.id, spec.cpus, spec.memoryBytes, libvirtd, world.scheduler, world.hostObserver());
    this.journalDb = new Database(":memory:");
    const selfFence = spec.selfFence;
    this.watchdog =
      selfFence?.settings.mode === "watchdog"
        ? new SimWatchdog(this.host, world.scheduler, selfFence.settings.watchdogTimeoutMs, (reason) => {
            world.trace.line("sim", `${reason}: host reset`);
            world.powerOff(spec.id);
            world.powerOn(spec.id);
          })
        : null;
    cachePreparedStatements(this.journalDb);
  }

  get hostId(): string {
    return this.spec.id;
  }

  isRunning(): boolean {
    return this.process !== null && this.slot.isAlive();
  }

  private stats(): HostStats {
    const active = this.host.sortedDomains().filter((domain) => executingStates.has(domain.state));
    const provisionedBytes = active.reduce((sum, domain) => sum + domain.memoryBytes, 0);
    return {
      cpus: this.host.cpus,
      memoryBytes: this.host.memoryBytes,
      freeMemoryBytes: Math.max(0, this.host.memoryBytes - provisionedBytes),
      memoryProvisionedBytes: provisionedBytes,
      load: active.length * 0.25,
      vcpusProvisioned: active.reduce((sum, domain) => sum + domain.vcpus, 0),
      vmCount: active.length,
    };
  }

  start(): void {
    const world = this.world;
    const slot = this.slot;
    slot.incarnation += 1;
    slot.state = "running";
    const incarnation = slot.incarnation;
    const clock = world.scheduler.clockOf(slot);
    const timers = world.scheduler.timersOf(slot, `${this.hostId} timer`);
    const logger = world.trace.logger(this.hostId);
    const journal = new Journal(this.journalDb, { injectedBug: world.bugs.has(SimBug.agentAcceptsStaleTerm) ? SimBug.agentAcceptsStaleTerm : null });
    const hypervisor = new SimHypervisor(this.host, slot);
    let link: ControlPlaneLink | null = null;
    let guard: SelfFenceGuard | null = null;
    const notify = () => link?.notify();
    // -- as agent/main.ts --
    const events = new HypervisorEventSource({ hypervisor, journal, clock, logger, onJournaled: notify });
    const env = { journal, hypervisor, clock, timers, logger, onJournaled: notify };
    const diskSync = new DiskSync({ ...env, storage: new SimImageStorage(this.host, slot), rng: seededRng(world.seedFor(`${this.hostId}#${incarnation}#sync`)) });
    const jobs = new JobTracker({ ...env, diskSync, scanIntervalMs: defaultScanIntervalMs, ownsJob: (jobId) => executor.ownsJob(jobId) });
    const executor = new CommandExecutor({ ...env, diskSync, migration: { progressIntervalMs: defaultProgressIntervalMs } });
    const sessionId = `${this.hostId}-session-${incarnation}`;
    link = new ControlPlaneLink({
      endpoints: this.spec.endpoints,
      connect: (endpoint) => world.connectAgent(this, endpoint, incarnation),
      journal,
      clock,
      timers,
      rng: seededRng(world.seedFor(`${this.hostId}#${incarnation}`)),
      logger,
      hello: () => ({
        hostId: this.hostId,
        bootId: this.host.bootId(),
        sessionId,
        agentVersion,
        lastAckedSeq: journal.lastAckedSeq(),
        highestTerm: journal.highestTerm(),
        migrationUri: `qemu+tls://${this.hostId}/system`,
        capacity: this.stats(),
        selfFence: { mode: this.spec.selfFence?.settings.mode ?? "off", timeoutMs: this.spec.selfFence?.settings.timeoutMs ?? 0 },
      }),
      onContact: (sentAtMs) => guard?.contact(sentAtMs),
      onWelcome: () => events.inventory(),
      onCommand: (command) => this.execute(command),
      heartbeatStats: () => this.stats(),
    });
    const selfFence = this.spec.selfFence;
    if (selfFence !== null) {
      guard = new SelfFenceGuard({
        settings: selfFence.settings,
        protectedDomains: selfFence.protectedDomains,
        hypervisor,
        watchdog: this.watchdog?.open() ?? null,
        clock,
        timers,
        logger,
        isConnected: () => link?.isConnected() === true,
        probe: () => {
          journal.append({ contactProbe: {} }, clock.nowMs());
          notify();
        },
      });
      guard.start(this.host.sortedDomains().some((domain) => executingStates.has(domain.state)));
    }
    this.process = { incarnation, journal, hypervisor, events, executor, jobs, diskSync, link, selfFence: guard };
    link.onConnectedChange((connected) => world.agentConnectionChanged(this, connected));
    // Recovery before the link starts, as agent/main.ts.
    events.start();
    jobs.start();
    void (async () => {
      await events.recoverMissed();
      const report = await jobs.recover();
      if (!slot.isAlive() || slot.incarnation !== incarnation) return;
      world.recoveryFinished(this, report);
      diskSync.start();
      link.start();
    })();
  }

  /** Hands a command to the executor, telling the checker whether the journal admitted it and against which term. */
  private execute(command: Command__Output): void {
    const process = this.process;
    if (process === null) return;
    this.lastCommand = command;
    const highestTermBefore = process.journal.highestTerm();
    const knownBefore = this.commandKnown(command.commandId);
    process.executor.handle(command);
    // Admission is synchronous (executor.ts journals it before anything awaits).
    const admitted = !knownBefore && this.commandKnown(command.commandId);
    this.world.commandReceived(this, command, { admitted, highestTermBefore });
  }

  private commandKnown(commandId: string): boolean {
    return this.journalDb.prepare("SELECT 1 FROM commands WHERE command_id = ?").get(commandId) !== undefined;
  }

  /** kill -9 of the agent: its objects are dropped; libvirtd and the journal's disk stay. */
  kill(): void {
    const process = this.process;
    this.slot.state = "dead";
    this.slot.parked = [];
    this.process = null;
    // The dead process's libvirt connection closes with it (libvirtd drops the socket).
    void process?.hypervisor.close();
  }

  /** SIGTERM, as agent/main.ts handles it: drain commands, stop events, the keepalive last. */
  async stop(): Promise<void> {
    const process = this.process;
    if (process === null || !this.slot.isAlive()) return;
    await process.executor.drain();
    await process.events.stop();
    await process.selfFence?.stop();
    await process.jobs.stop();
    await process.diskSync.stop();
    await process.hypervisor.close();
    await process.link.stop();
  }

  everStarted(): boolean {
    return this.slot.incarnation > 0;
  }

  /** Durable journal facts, read from the disk (valid whether or not the agent runs). */
  journalFacts(): { lastSeq: number; lastAckedSeq: number; highestTerm: number; outbox: number } {
    if (!this.everStarted()) return { lastSeq: 0, lastAckedSeq: 0, highestTerm: 0, outbox: 0 };
    const meta = (key: string) => Number((this.journalDb.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value ?? 0);
    const outbox = (this.journalDb.prepare("SELECT COUNT(*) AS count FROM outbox").get() as { count: number } | undefined)?.count ?? 0;
    return { lastSeq: meta("last_seq"), lastAckedSeq: meta("last_acked_seq"), highestTerm: meta("highest_term"), outbox };
  }
}
