// Bounded waiting for tests: poll a condition, or wait for a matching event, never sleep blindly.
import type { DomainEvent, LibvirtConnection } from "../../agent/libvirt/index.js";

export interface WaitOptions {
  timeoutMs: number;
  /** What we are waiting for, for the timeout message. */
  what: string;
  intervalMs?: number;
}

/** Resolves with the first truthy value of `probe`, or rejects after timeoutMs. */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}

/** Records every event of a connection and lets a test wait for one that matches. */
export class EventRecorder {
  readonly events: DomainEvent[] = [];
  private readonly waiters = new Set<{ match(event: DomainEvent): boolean; resolve(event: DomainEvent): void }>();
  readonly stop: () => void;

  constructor(connection: LibvirtConnection) {
    this.stop = connection.onEvent((event) => {
      this.events.push(event);
      for (const waiter of this.waiters) {
        if (waiter.match(event)) {
          this.waiters.delete(waiter);
          waiter.resolve(event);
        }
      }
    });
  }

  /** The first recorded event (already seen, or still to come) that matches, within timeoutMs. */
  waitForEvent(match: (event: DomainEvent) => boolean, options: WaitOptions): Promise<DomainEvent> {
    const seen = this.events.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (event: DomainEvent) => (clearTimeout(timer), resolve(event)) };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const kinds = this.events.map((event) => describe(event)).join(", ");
        reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}; saw: ${kinds}`));
      }, options.timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Forget what was recorded so far (for a fresh expectation). */
  clear(): void {
    this.events.length = 0;
  }

  lifecycleOf(uuid: string): string[] {
    return this.events.flatMap((event) =>
      event.kind === "lifecycle" && event.uuid === uuid ? [`${event.event}/${event.detail}`] : [],
    );
  }
}

export function describe(event: DomainEvent): string {
  switch (event.kind) {
    case "lifecycle":
      return `${event.name}:${event.event}/${event.detail}`;
    case "block-job":
      return `${event.name}:block-job ${event.jobType} ${event.status} ${event.disk}`;
    default:
      return `${event.name}:${event.kind}`;
  }
}

export function isLifecycle(uuid: string, event: string, detail?: string): (candidate: DomainEvent) => boolean {
  return (candidate) =>
    candidate.kind === "lifecycle" &&
    candidate.uuid === uuid &&
    candidate.event === event &&
    (detail === undefined || candidate.detail === detail);
}
