// Real certificates for tests, made by vigilctl's own pki code (openssl) in a temporary directory.
import { join } from "node:path";
import { certificatePaths, initCa, issueCertificate, type CertificateKind } from "../../controlplane/cli/pki.js";
import type { Role } from "../../common/identity.js";
import type { TlsFiles } from "./processes.js";

export class TestPki {
  readonly ca: string;

  /** Creates a CA in `dir` (its own CN, so two test CAs are distinct). */
  constructor(
    readonly dir: string,
    name = "vigil test CA",
  ) {
    this.ca = initCa(dir, 30, name).certificate;
  }

  /** Issues (or re-issues) a certificate; `days` < 0 makes one that has already expired. */
  issue(kind: CertificateKind, name: string, options: { role?: Role; days?: number; sans?: string[] } = {}): TlsFiles {
    const issued = issueCertificate({ dir: this.dir, kind, name, days: options.days ?? 30, sans: options.sans ?? [], ...(options.role === undefined ? {} : { role: options.role }) });
    return { ca: this.ca, cert: issued.certificate, key: issued.key };
  }

  /** The files of an already issued certificate. */
  files(kind: CertificateKind, name: string): TlsFiles {
    const paths = certificatePaths(this.dir, kind, name);
    return { ca: this.ca, cert: paths.certificate, key: paths.key };
  }

  static in(parent: string, name: string): TestPki {
    return new TestPki(join(parent, name), `vigil ${name} CA`);
  }
}
