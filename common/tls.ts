// mTLS material for every gRPC port (README "Security"): a CA bundle, this process's
// certificate chain and key, as PEM files named in YAML or flags.
// - The files are read and checked at start; a missing file, a key that does not match the
//   certificate, or unparsable PEM stops the process with one line naming the file.
// - They are read again on SIGHUP and whenever their modification time changes (polled). A
//   good new set is used by every new handshake, on the server and on outgoing connections;
//   connections already open keep the certificate they were made with. A bad new set is
//   refused with an error log and the old one stays in use.
// - grpc-js (pinned 1.14) takes them through its CertificateProvider interface:
//   createCertificateProviderServerCredentials on servers (client certificate required) and
//   createCertificateProviderChannelCredentials on clients, each building a fresh secure context
//   from the latest update.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { UsageError, errorMessage } from "./errors.js";
import { principalOf } from "./identity.js";
import type { Logger } from "./logging.js";
import type { OptionSpec, OptionValues } from "./options.js";

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

/** The TLS settings vigild and vigil-agent share (flags and YAML keys). */
export const tlsOptionSpecs: Record<string, OptionSpec> = {
  "tls-ca": { type: "string", description: "PEM file of the CA(s) that sign every vigil certificate", configKey: "tlsCa", defaultValue: "" },
  "tls-cert": { type: "string", description: "PEM file of this process's certificate (chain)", configKey: "tlsCert", defaultValue: "" },
  "tls-key": { type: "string", description: "PEM file of this process's private key", configKey: "tlsKey", defaultValue: "" },
  "tls-reload-seconds": { type: "string", description: "how often the PEM files are checked for changes (0: only on SIGHUP)", configKey: "tlsReloadSeconds", defaultValue: "10" },
};

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** The TLS files the options name, or null with `--insecure`; refuses half a configuration or both. */
export function tlsFilesFromOptions(values: OptionValues): TlsFiles | null {
  const files = { ca: String(values["tls-ca"] ?? ""), cert: String(values["tls-cert"] ?? ""), key: String(values["tls-key"] ?? "") };
  const given = Object.values(files).filter((path) => path !== "").length;
  if (values.insecure === true) {
    if (given > 0) throw new UsageError("--insecure and --tls-ca/--tls-cert/--tls-key exclude each other: choose one");
    return null;
  }
  if (given < 3) throw new UsageError("TLS needs --tls-ca, --tls-cert and --tls-key (YAML tlsCa, tlsCert, tlsKey); pass --insecure to run without TLS (development only)");
  return files;
}

export function reloadIntervalMs(values: OptionValues): number {
  const text = String(values["tls-reload-seconds"] ?? "10");
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || seconds > 86_400) throw new UsageError(`--tls-reload-seconds must be a whole number from 0 to 86400, got "${text}"`);
  return seconds * 1000;
}

interface Material {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** For logs: subject, SANs and expiry of the leaf certificate. */
  summary: string;
}

/** Reads and checks one set of files; throws a sentence naming the file at fault. */
export function readMaterial(files: TlsFiles): Material {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`${what} ${path}: ${errorMessage(error)}`);
    }
  };
  const ca = read(files.ca, "CA file");
  const cert = read(files.cert, "certificate file");
  const key = read(files.key, "key file");
  let leaf: X509Certificate;
  try {
    new X509Certificate(ca);
  } catch (error) {
    throw new Error(`CA file ${files.ca}: not a PEM certificate (${errorMessage(error)})`);
  }
  try {
    leaf = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`certificate file ${files.cert}: not a PEM certificate (${errorMessage(error)})`);
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error("it does not match the certificate");
  } catch (error) {
    throw new Error(`key file ${files.key}: ${errorMessage(error)} (certificate ${files.cert})`);
  }
  return { ca, cert, key, summary: `${leaf.subject.replace(/\n/g, ", ")}; ${leaf.subjectAltName ?? "no SAN"}; valid until ${leaf.validTo}` };
}

/**
 * The current TLS material, as a grpc-js CertificateProvider for both the CA and the identity.
 * `reload()` re-reads the files; start(): SIGHUP and polling trigger it.
 */
export class CertificateFiles {
  private material: Material;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly onHangup = () => this.reload("SIGHUP");
  private watching = false;

  constructor(
    readonly files: TlsFiles,
    private readonly logger: Logger,
  ) {
    try {
      this.material = readMaterial(files);
    } catch (error) {
      throw new UsageError(`TLS: ${errorMessage(error)}`);
    }
    logger.info({ certificate: this.material.summary }, "TLS certificate loaded");
  }

  /** Reloads on SIGHUP and, when `pollIntervalMs` > 0, when a file's modification time changes. */
  start(pollIntervalMs: number): void {
    process.on("SIGHUP", this.onHangup);
    if (pollIntervalMs <= 0) return;
    this.watching = true;
    for (const path of new Set(Object.values(this.files))) {
      watchFile(path, { interval: pollIntervalMs, persistent: false }, (current, previous) => {
        if (current.mtimeMs !== previous.mtimeMs || current.size !== previous.size) this.reload(`${path} changed`);
      });
    }
  }

  stop(): void {
    process.off("SIGHUP", this.onHangup);
    if (!this.watching) return;
    for (const path of new Set(Object.values(this.files))) unwatchFile(path);
  }

  /** Reads the files again; a good set replaces the current one for new handshakes. */
  reload(reason: string): boolean {
    let next: Material;
    try {
      next = readMaterial(this.files);
    } catch (error) {
      this.logger.error({ reason }, `TLS reload refused, still using the previous certificate: ${errorMessage(error)}`);
      return false;
    }
    const unchanged = next.ca.equals(this.material.ca) && next.cert.equals(this.material.cert) && next.key.equals(this.material.key);
    if (unchanged) return true;
    this.material = next;
    this.logger.info({ reason, certificate: next.summary }, "TLS certificate reloaded: new connections use it");
    for (const listener of this.caListeners) listener({ caCertificate: next.ca });
    for (const listener of this.identityListeners) listener({ certificate: next.cert, privateKey: next.key });
    return true;
  }

  // grpc-js CertificateProvider: listeners hear the current material at once, then every change.
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    const { ca } = this.material;
    process.nextTick(() => listener({ caCertificate: ca }));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    const { cert, key } = this.material;
    process.nextTick(() => listener({ certificate: cert, privateKey: key }));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  /** Server credentials: a client certificate signed by the CA is required for every connection. */
  serverCredentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, true);
  }

  /**
   * Client credentials for dialing vigild: the server's certificate must match the address
   * dialed (standard hostname check) and name a replica (`vigil://replica/ID`).
   */
  replicaChannelCredentials(): grpc.ChannelCredentials {
    quietIpServerNameWarning();
    return grpc.experimental.createCertificateProviderChannelCredentials(this, this, { checkServerIdentity: checkReplicaIdentity });
  }
}

/**
 * grpc-js sets the TLS ServerName to the dialed host even when it is an IP address, and node
 * warns about that (DEP0123) on stderr. vigil dials replicas by IP routinely and checks the
 * certificate's IP SAN itself, so that warning says nothing; every other warning passes.
 */
let ipServerNameWarningQuiet = false;
function quietIpServerNameWarning(): void {
  if (ipServerNameWarningQuiet) return;
  ipServerNameWarningQuiet = true;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const [, typeOrOptions, code] = args;
    const warningCode = typeof typeOrOptions === "object" && typeOrOptions !== null ? (typeOrOptions as { code?: string }).code : code;
    if (warningCode === "DEP0123") return;
    emitWarning(...args);
  }) as typeof process.emitWarning;
}

/** tls.checkServerIdentity, then: the server is a vigil replica, not some other holder of a CA-signed certificate. */
export function checkReplicaIdentity(host: string, certificate: PeerCertificate): Error | undefined {
  const hostProblem = checkServerIdentity(host, certificate);
  if (hostProblem !== undefined) return hostProblem;
  const principal = principalOf(certificate, new Map());
  if (principal.kind !== "replica") return new Error(`the server at ${host} presented ${principal.name}, not a vigil replica certificate (vigil://replica/ID)`);
  return undefined;
}

/** Client credentials from PEM files read once (vigilctl: a short-lived process). */
export function staticReplicaChannelCredentials(files: TlsFiles): grpc.ChannelCredentials {
  const material = readMaterial(files);
  quietIpServerNameWarning();
  return grpc.credentials.createSsl(material.ca, material.key, material.cert, { checkServerIdentity: checkReplicaIdentity });
}
