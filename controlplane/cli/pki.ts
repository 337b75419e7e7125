// `vigilctl pki init|issue`: a small CA for a lab or a first cluster, made with the `openssl`
// command (no library). Certificates carry vigil's identity scheme (common/identity.ts):
// - replica ID  -> URI vigil://replica/ID, DNS ID and localhost, IP 127.0.0.1, plus --san
// - agent HOST  -> URI vigil://host/HOST,  DNS HOST and localhost, IP 127.0.0.1, plus --san
// - user NAME   -> URI vigil://role/ROLE, CN NAME
// Keys are EC P-256, written 0600. Files: DIR/ca.pem, DIR/ca.key, DIR/KIND-NAME.pem|.key.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { roles, type Role } from "../../common/identity.js";
import { hostIdProblem } from "../../common/validate.js";

export const certificateKinds = ["replica", "agent", "user"] as const;
export type CertificateKind = (typeof certificateKinds)[number];

export const caDaysDefault = 3650;
export const certificateDaysDefault = 825;
const userNamePattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const ipPattern = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+:[0-9a-fA-F:]*)$/;
const sanPattern = /^[A-Za-z0-9*][A-Za-z0-9.*-]{0,252}$/;

export interface IssueRequest {
  dir: string;
  kind: CertificateKind;
  name: string;
  /** For users: the role the certificate grants. */
  role?: Role;
  /** Extra DNS names or IP addresses (replicas: every address clients dial). */
  sans?: string[];
  /** Validity in days from now; a negative number makes an already-expired certificate (tests). */
  days?: number;
}

export interface Issued {
  certificate: string;
  key: string;
}

/** Thrown for a problem the operator can fix (bad name, missing CA, openssl failed). */
export class PkiError extends Error {
  override name = "PkiError";
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "the openssl command is not installed" : stderr.trim().split("\n")[0] || String(error);
    throw new PkiError(`openssl ${args[0]} failed: ${reason}`);
  }
}

/** A scratch directory for CSRs and extension files, removed afterwards. */
function withScratch<T>(work: (scratch: string) => T): T {
  const scratch = mkdtempSync(join(tmpdir(), "vigil-pki-"));
  try {
    return work(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const requestConfig = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = vigil\n[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n";

export function caPaths(dir: string): Issued {
  return { certificate: join(dir, "ca.pem"), key: join(dir, "ca.key") };
}

/** Creates DIR/ca.pem and DIR/ca.key; refuses to overwrite an existing CA. */
export function initCa(dir: string, days = caDaysDefault, commonName = "vigil CA"): Issued {
  const paths = caPaths(dir);
  if (existsSync(paths.certificate) || existsSync(paths.key)) throw new PkiError(`${dir} already holds a CA (ca.pem, ca.key); remove them first to start over`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  withScratch((scratch) => {
    const config = join(scratch, "req.cnf");
    writeFileSync(config, requestConfig);
    openssl(["req", "-x509", "-new", "-config", config, "-extensions", "v3_ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", paths.key, "-out", paths.certificate, "-days", String(days), "-subj", `/CN=${commonName}`, "-set_serial", `0x${randomBytes(16).toString("hex")}`]);
  });
  chmodSync(paths.key, 0o600);
  return paths;
}

/** Why the request cannot be issued, or null. */
export function issueProblem(request: IssueRequest): string | null {
  if (request.kind === "user") {
    if (!userNamePattern.test(request.name)) return `user name "${request.name.slice(0, 80)}" must be 1 to 64 letters, digits, '.', '_', '@' or '-'`;
    if (request.role === undefined || !(roles as readonly string[]).includes(request.role)) return `a user certificate needs --role ${roles.join("|")}`;
  } else {
    const problem = hostIdProblem(request.name);
    if (problem !== null) return `${request.kind} id ${problem}`;
    if (request.role !== undefined) return `--role applies to user certificates only`;
  }
  for (const san of request.sans ?? []) {
    if (!ipPattern.test(san) && !sanPattern.test(san)) return `--san "${san.slice(0, 80)}" is not a DNS name or IP address`;
  }
  if (request.days !== undefined && (!Number.isInteger(request.days) || request.days === 0 || Math.abs(request.days) > 36_500)) return "--days must be a whole number from 1 to 36500";
  return null;
}

function subjectAltName(request: IssueRequest): string {
  const identity = request.kind === "replica" ? `vigil://replica/${request.name}` : request.kind === "agent" ? `vigil://host/${request.name}` : `vigil://role/${request.role}`;
  const names = request.kind === "user" ? [] : [request.name, "localhost", "127.0.0.1", ...(request.sans ?? [])];
  const entries = [`URI:${identity}`, ...[...new Set(names)].map((name) => (ipPattern.test(name) ? `IP:${name}` : `DNS:${name}`))];
  return entries.join(",");
}

function replaceFile(source: string, target: string, mode: number): void {
  const staged = `${target}.new`;
  copyFileSync(source, staged);
  chmodSync(staged, mode);
  renameSync(staged, target);
}

export function certificatePaths(dir: string, kind: CertificateKind, name: string): Issued {
  return { certificate: join(dir, `${kind}-${name}.pem`), key: join(dir, `${kind}-${name}.key`) };
}

/** Issues (or re-issues, replacing the files) one certificate signed by DIR's CA. */
export function issueCertificate(request: IssueRequest): Issued {
  const problem = issueProblem(request);
  if (problem !== null) throw new PkiError(problem);
  const ca = caPaths(request.dir);
  if (!existsSync(ca.certificate) || !existsSync(ca.key)) throw new PkiError(`${request.dir} holds no CA; run vigilctl pki init --dir ${request.dir} first`);
  const paths = certificatePaths(request.dir, request.kind, request.name);
  withScratch((scratch) => {
    const config = join(scratch, "req.cnf");
    const extensions = join(scratch, "ext.cnf");
    const csr = join(scratch, "request.csr");
    const key = join(scratch, "key.pem");
    writeFileSync(config, requestConfig);
    writeFileSync(
      extensions,
      `[v3]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = ${subjectAltName(request)}\n`,
    );
    openssl(["req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${request.name}`]);
    const certificate = join(scratch, "certificate.pem");
    openssl(["x509", "-req", "-in", csr, "-CA", ca.certificate, "-CAkey", ca.key, "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-days", String(request.days ?? certificateDaysDefault), "-extfile", extensions, "-extensions", "v3", "-out", certificate]);
    // Each file is replaced by a rename: a process reloading on file change never reads half a file.
    replaceFile(key, paths.key, 0o600);
    replaceFile(certificate, paths.certificate, 0o644);
  });
  return paths;
}
