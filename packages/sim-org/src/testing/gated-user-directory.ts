/**
 * An {@link OrgUserDirectory} for a restarting org whose real directory can only be built after
 * `Organisation.start` returns (the org CA needs the KMS). Unlike `DeferredUserDirectory`, which answers
 * "no such user" until attached, every call waits for {@link GatedUserDirectory.attach}: on a restart
 * the delivery worker resumes the spool inside `Organisation.start`, and a "no certificate for this
 * recipient" answer in that window would park already-acknowledged mail as undeliverable.
 */
import type { OrgUserDirectory } from '../org-context.js';

export class GatedUserDirectory implements OrgUserDirectory {
  readonly #ready: Promise<OrgUserDirectory>;
  #open!: (d: OrgUserDirectory) => void;

  constructor() {
    this.#ready = new Promise((resolve) => (this.#open = resolve));
  }

  /** Plugs in the real directory and releases every waiting call. */
  attach(target: OrgUserDirectory): void {
    this.#open(target);
  }

  async authenticate(username: string, password: string): Promise<boolean> {
    return (await this.#ready).authenticate(username, password);
  }

  async has(address: string): Promise<boolean> {
    return (await this.#ready).has(address);
  }

  async encryptionCertificate(address: string): Promise<Uint8Array | undefined> {
    return (await this.#ready).encryptionCertificate(address);
  }

  async crl(): Promise<Uint8Array | undefined> {
    return (await this.#ready).crl();
  }
}
