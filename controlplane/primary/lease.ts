// The primary lease as seen by this replica (DESIGN §3). Pure: the caller
// passes monotonic time. A new leader's duties wait for the previous primary's
// lease to have certainly run out; fencing waits for the whole takeover grace.

export type PrimaryState = "none" | "takeover" | "primary" | "relinquish";

export interface LeaseView {
  /** Monotonic ms when this replica's PrimaryTakeover was applied; null when it is not primary. */
  takeoverAtMs: number | null;
  /** Lease period plus the clock-drift bound: how long the previous primary may still act. */
  previousLeaseWaitMs: number;
  /** How long agents get to reconnect and resync before fencing may start. */
  takeoverGraceMs: number;
  relinquishing: boolean;
}

export function primaryState(view: LeaseView, nowMs: number): PrimaryState {
  if (view.takeoverAtMs === null) return "none";
  if (view.relinquishing) return "relinquish";
  return nowMs - view.takeoverAtMs >= view.takeoverGraceMs ? "primary" : "takeover";
}

/** Whether this replica may send commands to agents now (no overlap with the previous primary). */
export function commandsAllowed(view: LeaseView, nowMs: number): boolean {
  if (view.takeoverAtMs === null || view.relinquishing) return false;
  return nowMs - view.takeoverAtMs >= view.previousLeaseWaitMs;
}

/** Whether fencing may run now: only as `primary`, after the full grace. */
export function fencingAllowed(view: LeaseView, nowMs: number): boolean {
  return primaryState(view, nowMs) === "primary";
}
