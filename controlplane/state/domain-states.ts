// libvirt domain states (agent/domain-status.ts names them) as the control plane groups them.

/** A domain in one of these states holds its host's resources and counts as running for HA. */
export const aliveDomainStates: ReadonlySet<string> = new Set(["running", "paused", "blocked", "pmsuspended"]);

/** `aliveDomainStates` as an SQL list, for `state IN (...)`. */
export const aliveDomainStatesSql = [...aliveDomainStates].map((state) => `'${state}'`).join(", ");
