import type { PrivateKeyOps } from '@ssmax/core';
import type { DnsResolver } from '@ssmax/sim-net';
import type { EvaluationPolicy } from './evaluation.js';
import type { RegistryPki } from './pki.js';
import type { RegistryStore } from './store.js';

/** What every registry service shares; built once by {@link Registry.start}. */
export interface RegistryContext {
  readonly store: RegistryStore;
  readonly pki: RegistryPki;
  /** The registry root key (software or token). */
  readonly signer: PrivateKeyOps;
  readonly rootCertificate: Uint8Array;
  readonly issuerName: string;
  readonly clock: () => Date;
  readonly random: (n: number) => Uint8Array;
  readonly policy: EvaluationPolicy;
  /** Validity of issued org and KMS certificates, in days. */
  readonly certificateDays: number;
  readonly log: (line: string) => void;
  /** Where domain-control TXT records are looked up (`dns.promises.resolve` contract). */
  readonly resolver: DnsResolver;
  /** Check domain control at enrolment (E11); false only for falsifiability runs. */
  readonly domainControl: boolean;
}

export function newId(prefix: string, random: (n: number) => Uint8Array): string {
  return `${prefix}-${Buffer.from(random(8)).toString('hex')}`;
}
