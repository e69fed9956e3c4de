/**
 * The contract between a world and an outside organisation implementation (docs/IMPLEMENTING.md, v1):
 * the JSON config file the world hands the implementation at start, the readiness line it prints, and
 * the world's control API it may call. Types only, plus the version; the document is the reference,
 * and a program in any language can follow it without this file.
 */

/** The contract version this code speaks (`contract` in the config and in the readiness line). */
export const ORG_IMPLEMENTATION_CONTRACT = 1;

/** Environment variable naming the config file (also passed as `--config FILE` after the command). */
export const ORG_CONFIG_ENV = 'SSMAX_ORG_CONFIG_FILE';

/** A TCP endpoint on loopback. */
export interface ContractEndpoint {
  readonly address: string;
  readonly port: number;
}

/** A name on the simulated network and where it really listens (there is no DNS server: this table is the DNS). */
export interface ContractHost {
  /** e.g. `mx.org-a.example`. */
  readonly name: string;
  /** The well-known port clients use for it (25, 587, 80). */
  readonly port: number;
  /** Where to connect instead. */
  readonly connect: ContractEndpoint;
}

/** One user of the organisation: the user's card (held by the world, as the user holds it) and their mail password. */
export interface ContractUser {
  /** Full, lower-case address in the org's domain. */
  readonly address: string;
  readonly displayName?: string;
  /** MSA (SMTP AUTH PLAIN/LOGIN) password. */
  readonly password: string;
  /** For the trace table (procedure (2)): the employee or customer number the certificate must be traceable to. */
  readonly employeeNumber: string;
  /** How the identity was proved at the registration desk (certificate extension of procedure (2)). */
  readonly proofing: { readonly method: 'employeeCardPin' | 'myNumberCardPin'; readonly proofedBy: string };
  /** SubjectPublicKeyInfo (DER, base64) of the card's signing key: certify it for signing (address in SAN). */
  readonly signingSpki: string;
  /** SubjectPublicKeyInfo (DER, base64) of the card's encryption key: certify it for key encipherment; procedure (9) encrypts to it. */
  readonly encryptionSpki: string;
}

/** The JSON file the world writes for one organisation implementation (contract v1). */
export interface OrgImplementationConfig {
  readonly contract: 1;
  readonly org: {
    /** The world's id for the org; journey events name their actor `<id>/<service>`. */
    readonly id: string;
    readonly domain: string;
    readonly name?: string;
    /** `org` inspects (procedures (5) and (8)); `esp` does not (it still verifies and re-encrypts). */
    readonly mode: 'org' | 'esp';
  };
  /** What the defence profile asks of every member org. */
  readonly profile: {
    readonly id: string;
    /** Offer STARTTLS at the MX and use it toward other members (RFC 3207). */
    readonly starttls: boolean;
    /** With `starttls`: whether the MTA-out requires it or uses it when offered. */
    readonly outboundTls: 'require' | 'opportunistic';
    /** The sender manifest (end-to-end) is carried through. */
    readonly endToEnd: boolean;
  };
  /** A directory of its own, kept across restarts of the same world (spools, CA database, journal). */
  readonly storageDir: string;
  readonly network: {
    /** The /24 on loopback (`127.x.y`) the implementation binds its listeners on and sends from. */
    readonly prefix: string;
    /** Suggested listen ports (0: any); the readiness line says where it really listens. */
    readonly listen: { readonly mx: number; readonly msa: number; readonly crl: number };
    /** MX records of the other domains: `domain` is served by `host` (then look `host:25` up in `hosts`). */
    readonly mx: readonly { readonly domain: string; readonly host: string }[];
    /** Every other service on the simulated network by name and port. */
    readonly hosts: readonly ContractHost[];
  };
  /** The TLS identity for STARTTLS and HTTPS, issued by the simulated network's CA (PEM files). */
  readonly tls: {
    /** Certificate for `mx.<domain>`, `msa.<domain>` and `crl.<domain>`, leaf then CA. */
    readonly chainFile: string;
    readonly keyFile: string;
    /** The simulated network's CA: trust it (and only it) for STARTTLS to other members. */
    readonly caFile: string;
    /** That CA's directory, for implementations built on sim-net (`SimNet.create({caDir})`). */
    readonly caDir: string;
  };
  readonly registry: {
    /** The registry HTTP API (docs/PROTOCOL.md): enrolment (1), directory, status, incidents (12). */
    readonly url: string;
    /** The registry root certificate, DER base64 (also as PEM in `rootFile`). */
    readonly rootCertificate: string;
    readonly rootFile: string;
  };
  /** The org's own keys: a SoftHSM2 store of its own (never shared with another process). */
  readonly keys: {
    readonly pkcs11Module: string;
    /** The store's directory (its tokens under `tokens/`); `softhsm2Conf` points SoftHSM2 at it (set SOFTHSM2_CONF to that file). */
    readonly storeDir: string;
    readonly softhsm2Conf: string;
  };
  readonly users: readonly ContractUser[];
  /** Where mail for the users goes: LMTP (RFC 2033) to the org's Dovecot, which the world runs and reads over IMAP. */
  readonly mailbox: {
    readonly lmtp: { readonly unix: string };
    /** Dovecot's config, for `doveadm` (optional: to ask whether a message is already stored before retrying). */
    readonly dovecotConfig: string;
  };
  /** The world's side: DNS writes for the domain-control challenge of (1), and optional journey events. */
  readonly world: {
    /** `POST {url}/v1/dns/txt` and `DELETE {url}/v1/dns/txt` with `{"name","value"}`; `POST {url}/v1/journey` with JSON lines. */
    readonly controlUrl: string;
  };
}

/** The first line a ready implementation prints on stdout (JSON, one line). */
export interface OrgReadyLine {
  readonly event: 'ready';
  readonly contract: 1;
  /** Where the MTA-in (SMTP, port-25 role) really listens. */
  readonly mx: ContractEndpoint;
  /** Where the MSA (SMTP submission with AUTH) really listens. */
  readonly msa: ContractEndpoint;
  /** Where `http://crl.<domain>/org.crl` really listens (procedure (12)'s revocations), when it publishes one. */
  readonly crl?: ContractEndpoint;
  /** The org certificate the registry issued at (1), and the KMS certificates, DER base64. */
  readonly orgCertificate: string;
  readonly kmsEncryptionCertificate: string;
  readonly kmsSigningCertificate: string;
  /** The certificates (2) issued for every configured user (DER base64). */
  readonly users: readonly { readonly address: string; readonly signingCertificate: string; readonly encryptionCertificate: string }[];
  /** Optional: the implementation's own control API (`GET /v1/idle`, `POST /v1/report-malicious`). */
  readonly controlUrl?: string;
  /** Free text for the report, e.g. `postfix 3.7.11 + ssmax org filter`. */
  readonly implementation?: string;
}

/** The line an implementation prints instead when it cannot start (then exits non-zero). */
export interface OrgErrorLine {
  readonly event: 'error';
  readonly message: string;
}
