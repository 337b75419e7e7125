// The vigilctl command grammar as data: every noun/verb path, its positional arguments and
// its flags. Parsing (args.ts), help text (usage.ts) and shell completion (completion.ts) are
// all derived from this one table, so they cannot drift apart.

/** Every flag vigilctl knows. All are long flags; a few have a one-letter short form. */
export const flagTypes = {
  endpoints: { type: "string" },
  output: { type: "string", short: "o" },
  "timeout-ms": { type: "string" },
  help: { type: "boolean", short: "h" },
  to: { type: "string" },
  on: { type: "string" },
  host: { type: "string" },
  vm: { type: "string" },
  since: { type: "string" },
  follow: { type: "boolean" },
  limit: { type: "string" },
  wait: { type: "boolean" },
  "wait-timeout": { type: "string" },
  "force-live": { type: "boolean" },
  timeout: { type: "string" },
  restart: { type: "string" },
  priority: { type: "string" },
  selector: { type: "string" },
  autorestart: { type: "string" },
  "max-restarts": { type: "string" },
  "migration-fallback": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  dir: { type: "string" },
  san: { type: "string" },
  role: { type: "string" },
  days: { type: "string" },
} as const satisfies Record<string, { type: "string" | "boolean"; short?: string }>;

export type FlagName = keyof typeof flagTypes;

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(flagTypes, name);
}

export interface FlagUse {
  name: FlagName;
  /** What the value stands for in usage text; absent for boolean flags. */
  metavar?: string;
  /** The values the flag accepts, when it is a fixed set (validated and completed). */
  choices?: readonly string[];
  help: string;
}

export interface ArgUse {
  /** Shown in usage text, e.g. "VM" or "on|off". */
  name: string;
  optional?: boolean;
  choices?: readonly string[];
}

export const restartPolicies = ["always", "on-host-failure", "never"] as const;
export type RestartPolicy = (typeof restartPolicies)[number];
export const selectors = ["mem", "memprov", "load", "vcpus", "vms"] as const;
export type Selector = (typeof selectors)[number];
export const outputFormats = ["table", "json"] as const;
export type OutputFormat = (typeof outputFormats)[number];
export const onOff = ["on", "off"] as const;

/** The kinds of command vigilctl runs; one per path in the grammar. */
export const commandKinds = [
  "cluster.status",
  "cluster.maintenance",
  "cluster.transfer-primary",
  "cluster.member.add",
  "cluster.member.remove",
  "host.list",
  "host.show",
  "host.flush",
  "host.unflush",
  "host.maintenance",
  "host.confirm-fenced",
  "host.remove",
  "vm.list",
  "vm.show",
  "vm.start",
  "vm.shutdown",
  "vm.stop",
  "vm.migrate",
  "vm.set",
  "job.list",
  "job.show",
  "job.cancel",
  "events",
  "config.get",
  "config.set",
  "pki.init",
  "pki.issue",
] as const;
export type CommandKind = (typeof commandKinds)[number];

export interface VerbSpec {
  kind: CommandKind;
  /** The words that name the command, e.g. ["cluster", "member", "add"]. */
  path: readonly string[];
  args: readonly ArgUse[];
  flags: readonly FlagUse[];
  summary: string;
  /** Extra lines for `vigilctl NOUN VERB --help`. */
  details?: readonly string[];
}

export const globalFlags: readonly FlagUse[] = [
  {
    name: "endpoints",
    metavar: "ADDR,...",
    help: "vigild replicas to try in order (default $VIGIL_ENDPOINTS, else 127.0.0.1:7400)",
  },
  { name: "output", metavar: "table|json", choices: ["table", "json"], help: "output format (default table)" },
  {
    name: "timeout-ms",
    metavar: "MS",
    help: "deadline of each call in milliseconds (default 30000; vm start/stop allow 5 min, vm shutdown its timeout + 60 s)",
  },
  { name: "tls-ca", metavar: "FILE", help: "mTLS: PEM of the cluster's CA (default $VIGIL_TLS_CA; none: plaintext, for --insecure servers)" },
  { name: "tls-cert", metavar: "FILE", help: "mTLS: PEM of your certificate (default $VIGIL_TLS_CERT)" },
  { name: "tls-key", metavar: "FILE", help: "mTLS: PEM of your private key (default $VIGIL_TLS_KEY)" },
  { name: "help", help: "show help for the command" },
];

const pkiFlags: readonly FlagUse[] = [
  { name: "dir", metavar: "DIR", help: "where the CA and certificates are kept (default ./vigil-pki)" },
  { name: "days", metavar: "N", help: "validity in days (default 3650 for the CA, 825 for certificates)" },
];

const waitFlags: readonly FlagUse[] = [
  {
    name: "wait",
    help: "poll the job until it ends, showing progress per VM (with -o json: progress lines on stderr, the final job on stdout; exit 0 succeeded, 1 failed or canceled, 3 rolled back)",
  },
  { name: "wait-timeout", metavar: "DURATION", help: "give up waiting after this long, e.g. 45m (default 30m)" },
];

export const nounSummaries: ReadonlyArray<readonly [string, string]> = [
  ["cluster", "control-plane replicas, primary, cluster maintenance"],
  ["host", "KVM hosts: state, flush/unflush, maintenance, fencing"],
  ["vm", "virtual machines: state, start/stop, migration, HA policy"],
  ["job", "migrations, flushes and unflushes"],
  ["events", "the cluster event log"],
  ["config", "cluster-wide settings"],
  ["pki", "a CA and mTLS certificates for replicas, agents and users (uses openssl)"],
];

export const verbSpecs: readonly VerbSpec[] = [
  { kind: "cluster.status", path: ["cluster", "status"], args: [], flags: [], summary: "show term, primary and its state, maintenance and every replica" },
  {
    kind: "cluster.maintenance",
    path: ["cluster", "maintenance"],
    args: [{ name: "on|off", choices: onOff }],
    flags: [],
    summary: "turn cluster maintenance on or off",
    details: ["While cluster maintenance is on, no host is fenced and no VM is restarted by HA."],
  },
  {
    kind: "cluster.transfer-primary",
    path: ["cluster", "transfer-primary"],
    args: [],
    flags: [{ name: "to", metavar: "ID", help: "the replica to hand over to (default: the server picks one)" }],
    summary: "hand the primary role over gracefully",
    details: ["The primary writes relinquish, drains its duties, then transfers Raft leadership."],
  },
  {
    kind: "cluster.member.add",
    path: ["cluster", "member", "add"],
    args: [{ name: "ID" }, { name: "ADDR" }],
    flags: [],
    summary: "add a replica to the Raft membership",
  },
  {
    kind: "cluster.member.remove",
    path: ["cluster", "member", "remove"],
    args: [{ name: "ID" }],
    flags: [],
    summary: "remove a replica from the Raft membership",
  },
  { kind: "host.list", path: ["host", "list"], args: [], flags: [], summary: "list hosts with state, liveness and VM count" },
  { kind: "host.show", path: ["host", "show"], args: [{ name: "H" }], flags: [], summary: "show everything known about one host" },
  {
    kind: "host.flush",
    path: ["host", "flush"],
    args: [{ name: "H" }],
    flags: waitFlags,
    summary: "drain a host: migrate its VMs away, one at a time",
    details: ["A VM with no valid target is shut down and marked for autorestart. A new flush or unflush of the same host cancels the running one."],
  },
  {
    kind: "host.unflush",
    path: ["host", "unflush"],
    args: [{ name: "H" }],
    flags: waitFlags,
    summary: "make a host ready again and migrate back the VMs it last ran",
  },
  {
    kind: "host.maintenance",
    path: ["host", "maintenance"],
    args: [{ name: "H" }, { name: "on|off", choices: onOff }],
    flags: [],
    summary: "put a host in or out of maintenance (never fenced while in maintenance)",
  },
  {
    kind: "host.confirm-fenced",
    path: ["host", "confirm-fenced"],
    args: [{ name: "H" }],
    flags: [],
    summary: "confirm by hand that a host is powered off",
    details: [
      "DANGER: HA then restarts the host's VMs elsewhere. Confirm only after checking that the host",
      "is really off (or cut off from its storage); otherwise a VM may run on two hosts.",
    ],
  },
  { kind: "host.remove", path: ["host", "remove"], args: [{ name: "H" }], flags: [], summary: "forget a host" },
  {
    kind: "vm.list",
    path: ["vm", "list"],
    args: [],
    flags: [{ name: "host", metavar: "H", help: "only VMs on this host" }],
    summary: "list VMs with host, state and restart policy",
  },
  { kind: "vm.show", path: ["vm", "show"], args: [{ name: "VM" }], flags: [], summary: "show everything known about one VM (name or UUID)" },
  {
    kind: "vm.start",
    path: ["vm", "start"],
    args: [{ name: "VM" }],
    flags: [{ name: "on", metavar: "H", help: "the host to start it on (default: chosen by its selector)" }],
    summary: "start a VM",
  },
  {
    kind: "vm.shutdown",
    path: ["vm", "shutdown"],
    args: [{ name: "VM" }],
    flags: [{ name: "timeout", metavar: "S", help: "seconds (or a duration like 2m, at most 1h) before a forced stop (default: the server's, 180 s)" }],
    summary: "shut a VM down via ACPI, forcing it off at the timeout",
  },
  { kind: "vm.stop", path: ["vm", "stop"], args: [{ name: "VM" }], flags: [], summary: "force a VM off at once" },
  {
    kind: "vm.migrate",
    path: ["vm", "migrate"],
    args: [{ name: "VM" }],
    flags: [
      { name: "to", metavar: "H", help: "the destination host (default: chosen by its selector)" },
      { name: "force-live", help: "live migration only, never fall back to a shutdown migration" },
      ...waitFlags,
    ],
    summary: "migrate a VM to another host",
  },
  {
    kind: "vm.set",
    path: ["vm", "set"],
    args: [{ name: "VM" }],
    flags: [
      { name: "restart", metavar: "POLICY", choices: restartPolicies, help: "always | on-host-failure | never" },
      { name: "priority", metavar: "N", help: "restart priority, higher first (an integer within ±1000000)" },
      { name: "limit", metavar: "h1,h2", help: "the hosts it may run on; an empty list allows every host" },
      { name: "selector", metavar: "S", choices: selectors, help: "how a target host is chosen: mem | memprov | load | vcpus | vms" },
      { name: "autorestart", metavar: "on|off", choices: onOff, help: "restart it automatically when it goes down" },
      { name: "max-restarts", metavar: "N", help: "restarts allowed before HA gives up (0 to 1000)" },
      {
        name: "migration-fallback",
        metavar: "on|off",
        choices: onOff,
        help: "a failed live migration may fall back to a shutdown migration (on by default); off: live only",
      },
    ],
    summary: "change a VM's HA policy (only the flags given are changed)",
  },
  {
    kind: "job.list",
    path: ["job", "list"],
    args: [],
    flags: [
      { name: "vm", metavar: "VM", help: "only jobs of this VM (name or UUID)" },
      { name: "host", metavar: "H", help: "only jobs from, to or of this host" },
    ],
    summary: "list migrations, flushes and unflushes",
  },
  { kind: "job.show", path: ["job", "show"], args: [{ name: "ID" }], flags: [], summary: "show one job with its progress and, for a flush or unflush, its steps" },
  {
    kind: "job.cancel",
    path: ["job", "cancel"],
    args: [{ name: "ID" }],
    flags: [],
    summary: "cancel a running job",
    details: [
      "A running migration is aborted; where the VM ends up is still decided from what both hosts report.",
      "A canceled flush or unflush starts no new step; the step under way finishes or is adjudicated.",
    ],
  },
  {
    kind: "events",
    path: ["events"],
    args: [],
    flags: [
      { name: "follow", help: "keep printing new events until interrupted (JSON: one object per line)" },
      { name: "host", metavar: "H", help: "only events about this host" },
      { name: "vm", metavar: "VM", help: "only events about this VM" },
      { name: "since", metavar: "T", help: "only events at or after T: an ISO time, or a duration like 10m meaning that long ago" },
      { name: "limit", metavar: "N", help: "at most N events (default: the server's)" },
    ],
    summary: "print the cluster event log",
  },
  {
    kind: "config.get",
    path: ["config", "get"],
    args: [{ name: "KEY", optional: true }],
    flags: [],
    summary: "show one setting, or all of them",
  },
  { kind: "config.set", path: ["config", "set"], args: [{ name: "KEY" }, { name: "VALUE" }], flags: [], summary: "change a setting" },
  {
    kind: "pki.init",
    path: ["pki", "init"],
    args: [],
    flags: pkiFlags,
    summary: "create a CA (ca.pem, ca.key) for the cluster's certificates",
    details: ["Keep ca.key offline once every certificate is issued; vigild and agents need only ca.pem."],
  },
  {
    kind: "pki.issue",
    path: ["pki", "issue"],
    args: [{ name: "replica|agent|user", choices: ["replica", "agent", "user"] }, { name: "NAME" }],
    flags: [
      ...pkiFlags,
      { name: "role", metavar: "ROLE", choices: ["reader", "operator"], help: "user certificates: reader (list, show, status, events, get) or operator (everything)" },
      { name: "san", metavar: "NAME,...", help: "more DNS names or IP addresses the certificate is valid for (replicas: every address clients dial)" },
    ],
    summary: "issue a certificate: replica ID, agent HOST or user NAME --role ROLE",
    details: [
      "Writes DIR/KIND-NAME.pem and DIR/KIND-NAME.key, replacing an older pair: running daemons pick",
      "the new files up on SIGHUP or within tlsReloadSeconds.",
    ],
  },
];

/** The usage line of one command, e.g. "vigilctl vm start VM [--on H]". */
export function usageLine(spec: VerbSpec): string {
  const words = ["vigilctl", ...spec.path];
  for (const arg of spec.args) words.push(arg.optional === true ? `[${arg.name}]` : arg.name);
  for (const flag of spec.flags) words.push(flag.metavar === undefined ? `[--${flag.name}]` : `[--${flag.name} ${flag.metavar}]`);
  return words.join(" ");
}

/** The specs whose path starts with `prefix`, in table order. */
export function specsUnder(prefix: readonly string[]): VerbSpec[] {
  return verbSpecs.filter((spec) => prefix.every((word, index) => spec.path[index] === word));
}

/** The distinct words that may follow `prefix` (the verbs of a noun, the sub-verbs of a group). */
export function wordsAfter(prefix: readonly string[]): string[] {
  const words: string[] = [];
  for (const spec of specsUnder(prefix)) {
    const word = spec.path[prefix.length];
    if (word !== undefined && !words.includes(word)) words.push(word);
  }
  return words;
}
