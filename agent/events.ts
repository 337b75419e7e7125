// Turns hypervisor happenings into journaled events, in the order they occur.
// Lifecycle handling is serialized: a lookup for event N finishes before event
// N+1 is journaled, so the control plane sees states in libvirt's order.
import type { Clock } from "../common/env.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logging.js";
import { domainStatus } from "./domain-status.js";
import type { DomainInfo, Hypervisor, LifecycleEvent } from "./hypervisor.js";
import type { Journal } from "./journal.js";
import { missedLifecycleEvents } from "./recovery/missed-events.js";

export interface EventSourceOptions {
  hypervisor: Hypervisor;
  journal: Journal;
  clock: Clock;
  logger: Logger;
  onJournaled(): void;
}

/** The state a domain that vanished with its event (a transient domain destroyed) was left in. */
function vanishedDomain(event: LifecycleEvent): DomainInfo {
  return { name: event.name, uuid: event.uuid, state: "shutoff", reason: event.detail, vcpus: 0, memoryBytes: 0, persistent: false };
}

export class HypervisorEventSource {
  private chain: Promise<void> = Promise.resolve();
  private latestDomains: DomainInfo[] = [];
  private readonly unsubscribers: (() => void)[] = [];

  constructor(private readonly options: EventSourceOptions) {}

  start(): void {
    const { hypervisor } = this.options;
    this.unsubscribers.push(hypervisor.onLifecycle((event) => this.enqueue(() => this.journalLifecycle(event))));
    this.unsubscribers.push(
      hypervisor.onConnectionChange((change) => {
        if (change === "restored") this.enqueue(() => this.journalInventory());
      }),
    );
  }

  /** The domains as of the last inventory or event, for heartbeat stats. */
  domains(): DomainInfo[] {
    return this.latestDomains;
  }

  /**
   * Recovery on start (DESIGN §9): re-adopts every domain and journals, marked recovered, the
   * lifecycle changes that happened while the agent was down. Resolves with how many it found;
   * with libvirt down it finds none now and the inventory after the reconnect tells the rest.
   */
  recoverMissed(): Promise<number> {
    let found = 0;
    return this.enqueue(async () => {
      const { hypervisor, journal, clock, logger } = this.options;
      let domains: DomainInfo[];
      try {
        domains = await hypervisor.listDomains();
      } catch (error) {
        logger.warn({ err: errorMessage(error) }, "missed lifecycle events not checked: libvirt is not answering (the inventory after it returns tells the state)");
        return;
      }
      this.latestDomains = domains;
      for (const missed of missedLifecycleEvents(journal.reportedDomains(), domains)) {
        logger.info({ vm: missed.domain.name, event: missed.event, detail: missed.detail, state: missed.domain.state }, "lifecycle change missed while the agent was down");
        journal.append({ lifecycle: missed }, clock.nowMs(), true);
        found += 1;
      }
      if (found > 0) this.options.onJournaled();
    }).then(() => found);
  }

  /** Journals a full inventory; resolves once it is in the outbox. */
  inventory(): Promise<void> {
    return this.enqueue(() => this.journalInventory());
  }

  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    await this.chain;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step).catch((error: unknown) => this.options.logger.error({ err: errorMessage(error) }, "journaling a hypervisor event failed"));
    this.chain = next;
    return next;
  }

  private async journalInventory(): Promise<void> {
    const domains = await this.options.hypervisor.listDomains();
    this.latestDomains = domains;
    this.options.journal.append({ inventory: { domains: domains.map(domainStatus) } }, this.options.clock.nowMs());
    this.options.onJournaled();
  }

  private async journalLifecycle(event: LifecycleEvent): Promise<void> {
    const { hypervisor, journal, clock, logger } = this.options;
    const domain = (await hypervisor.lookupDomain(event.uuid)) ?? vanishedDomain(event);
    this.latestDomains = [...this.latestDomains.filter((known) => known.uuid !== domain.uuid), domain];
    logger.info({ vm: domain.name, event: event.event, detail: event.detail, state: domain.state }, "domain lifecycle event");
    journal.append({ lifecycle: { domain: domainStatus(domain), event: event.event, detail: event.detail } }, clock.nowMs());
    this.options.onJournaled();
  }
}
