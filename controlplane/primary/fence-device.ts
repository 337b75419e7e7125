// The edge between the fencing duty and what powers a host off (DESIGN §5). The duty decides
// purely when to fence and what a result means; a device only acts. Production has the
// ClusterLabs fence-agent runner (controlplane/fencing/); the simulator has SimFenceDevice.

export type PowerOffOutcome = "off" | "failed" | "timeout";
export type PowerStatus = "on" | "off" | "unknown";

export interface FenceDevice {
  readonly hostId: string;
  /** Asks the device to power the host off. Bounded by the device's own timeout; never throws. */
  powerOff(): Promise<{ outcome: PowerOffOutcome; detail: string }>;
  /** Reads the power state; "unknown" when the device does not answer in time. Never throws. */
  powerStatus(): Promise<{ status: PowerStatus; detail: string }>;
}

/**
 * How one host is fenced. `fence-agent`: a device powers it off and a status read confirms it.
 * `self`: the host's agent fences itself (Hello.self_fence) and the primary counts it fenced only
 * after the agent's timeout plus a margin since its last contact. `manual`: an operator confirms
 * (`vigilctl host confirm-fenced`). Configured per host in vigild's YAML, identical on every replica.
 */
export type FenceMethod = { kind: "fence-agent"; device: FenceDevice } | { kind: "self" } | { kind: "manual" };

export interface FenceMethods {
  methodFor(hostId: string): FenceMethod;
}
