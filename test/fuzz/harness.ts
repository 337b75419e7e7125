// A real cluster for the fuzzer: N vigild replicas and one vigil-agent (libvirt test driver) on
// loopback, plaintext or mTLS with certificates from vigilctl's pki code.
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import type { ServiceName } from "../../common/proto.js";
import { checkReplicaIdentity } from "../../common/tls.js";
import { freePorts } from "../support/cluster.js";
import { TestPki } from "../support/pki.js";
import { securityArgs, startAgent, startProcess, stopProcess, temporaryDirectory, vigildPath, vigilctl, vigilctlJson, type RunningProcess, type TlsFiles } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

export interface FuzzCluster {
  endpoints: string[];
  processes: RunningProcess[];
  credentials(service: ServiceName): grpc.ChannelCredentials;
  /** Values the fuzzer mixes in so that requests reach past the first checks. */
  nearValidStrings: string[];
  stop(): Promise<void>;
}

function channelCredentials(files: TlsFiles): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert), { checkServerIdentity: checkReplicaIdentity });
}

export async function startFuzzCluster(options: { replicas: number; tls: boolean }): Promise<FuzzCluster> {
  const directory = temporaryDirectory("fuzz");
  const ports = await freePorts(options.replicas);
  const ids = ports.map((_, position) => `cp${position + 1}`);
  const endpoints = ports.map((port) => `127.0.0.1:${port}`);
  const peers = ids.map((id, position) => `${id}=${endpoints[position]}`).join(",");
  const pki = options.tls ? TestPki.in(directory.path, "pki") : null;
  const processes: RunningProcess[] = [];
  const stop = async () => {
    for (const running of processes.reverse()) await stopProcess(running).catch(() => running.child.kill("SIGKILL"));
    directory.remove();
  };
  try {
    for (const [position, id] of ids.entries()) {
      // The fuzzer opens many agent streams for made-up hosts: the reconnect limit would only hide the gateway.
      const args = [...securityArgs(pki?.issue("replica", id)), "--id", id, "--listen", endpoints[position]!, "--peers", peers, "--data-dir", `${directory.path}/${id}`, "--connect-rate", "100000", "--connect-burst", "100000", "--call-rate", "100000", "--call-burst", "100000"];
      processes.push(startProcess(id, vigildPath, args));
    }
    const operator = pki?.issue("user", "fuzzer", { role: "operator" });
    const cli = operator === undefined ? {} : { tls: operator };
    await waitFor(() => vigilctlJson<{ leader: string }>(endpoints[0]!, ["cluster", "status"], cli).leader !== "", { timeoutMs: 30_000, what: "a leader" });
    // Liveness must not move by itself while the fuzzer compares commit indexes: an hour per keepalive.
    const { code, stderr } = vigilctl(endpoints.join(","), ["config", "set", "keepalive.interval", "3600"], cli);
    if (code !== 0) throw new Error(`config set failed: ${stderr}`);
    const agent = startAgent({ hostId: "h1", controlPlane: endpoints.join(","), stateDir: `${directory.path}/h1`, ...(pki === null ? {} : { tls: pki.issue("agent", "h1") }) });
    processes.push(agent);
    await waitFor(() => vigilctlJson<{ state: string }[]>(endpoints[0]!, ["vm", "list"], cli).some((vm) => vm.state === "running"), { timeoutMs: 30_000, what: "the agent's inventory" });
    const fuzzAgent = pki?.issue("agent", "fz-1");
    const fuzzReplica = pki?.issue("replica", "cp9");
    const credentials = (service: ServiceName): grpc.ChannelCredentials => {
      if (pki === null) return grpc.credentials.createInsecure();
      if (service === "AgentGateway") return channelCredentials(fuzzAgent!);
      if (service === "PeerService") return channelCredentials(fuzzReplica!);
      return channelCredentials(operator!);
    };
    const nearValidStrings = ["h1", "fz-1", "fz-2", ...ids, "command.timeout", "vm.orphanedSkipTimeout", "migration.recheckInterval", "no.such.key", "10", "0", "-1", "always", "never", "on-host-failure", "mem", "load", "restart", "priority", "limit", "selector", "autorestart", "max_restarts", "maxRestarts", "running", "shutoff", "paused", "6695eb01-f6a4-8304-79aa-97f2502e19ff"];
    return { endpoints, processes, credentials, nearValidStrings, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
