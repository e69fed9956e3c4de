import { createPublicKey, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { SsmaxError } from '@ssmax/core';

/** Record types the zone stores. */
export type RrType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'CNAME' | 'PTR';

/** Shape of an MX answer, as `dns.promises.resolve(name, 'MX')` gives it. */
export interface MxRecord {
  readonly exchange: string;
  readonly priority: number;
}

/**
 * The `dns.promises.resolve(name, rrtype)` contract that mailauth (and our MTAs) take as an injected
 * resolver: A/AAAA/CNAME/PTR → `string[]`, MX → `{exchange, priority}[]`, TXT → `string[][]`
 * (each record as its ≤255-byte character-strings). Failures reject with a {@link DnsError}.
 */
export interface DnsResolver {
  (name: string, rrtype: 'MX'): Promise<MxRecord[]>;
  (name: string, rrtype: 'TXT'): Promise<string[][]>;
  (name: string, rrtype?: 'A' | 'AAAA' | 'CNAME' | 'PTR'): Promise<string[]>;
  // `any[]` because the answer's shape depends on a runtime rrtype, and so that the resolver is
  // assignable to mailauth's `DNSResolver` type (`(name, rrtype: string) => Promise<string[][] | string[]>`).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (name: string, rrtype: string): Promise<any[]>;
}

/** The `dns.promises.reverse(ip)` contract: the PTR names of an address. */
export type DnsReverser = (address: string) => Promise<string[]>;

/** DNS failure codes node uses (`dns.NOTFOUND`, `dns.NODATA`, …) that the zone can produce. */
export type DnsErrorCode = 'ENOTFOUND' | 'ENODATA' | 'ESERVFAIL' | 'ETIMEOUT' | 'EREFUSED' | 'ECONNREFUSED' | 'ENOTIMP';

/**
 * A DNS failure shaped like node's own (`code`, `errno`, `syscall`, `hostname`, message
 * `"queryTxt ENOTFOUND name"`), because mailauth branches on `err.code`: ENOTFOUND/ENODATA are
 * "void" lookups (RFC 7208 §4.6.4), ETIMEOUT/EREFUSED are temperror.
 */
export class DnsError extends Error {
  override readonly name = 'DnsError';
  readonly code: DnsErrorCode;
  readonly errno: DnsErrorCode;
  readonly syscall: string;
  readonly hostname: string;

  constructor(code: DnsErrorCode, syscall: string, hostname: string) {
    super(`${syscall} ${code} ${hostname}`);
    this.code = code;
    this.errno = code;
    this.syscall = syscall;
    this.hostname = hostname;
  }
}

/** A scripted resolver failure (SERVFAIL, timeout, …) for one name, or all names. */
export interface DnsFault {
  /** Name the fault applies to; `'*'` for every name. */
  readonly name: string;
  /** Record type; omitted for every type. */
  readonly rrtype?: string;
  readonly code: Exclude<DnsErrorCode, 'ENOTFOUND' | 'ENODATA'>;
}

/** One resolver call as the zone answered it (for journeys and tests). */
export interface DnsQuery {
  readonly name: string;
  readonly rrtype: string;
  /** `'answer'` or the error code. */
  readonly outcome: 'answer' | DnsErrorCode;
}

export interface SpfPolicy {
  readonly ip4?: readonly string[];
  readonly ip6?: readonly string[];
  readonly include?: readonly string[];
  readonly a?: boolean;
  readonly mx?: boolean;
  /** Default `'-all'` (RFC 7208 §5.1: fail everything not listed). */
  readonly all?: '-all' | '~all' | '?all' | '+all';
}

export interface DkimKey {
  /** A public (or private) key; RSA or Ed25519. */
  readonly publicKey: KeyObject | string;
  /** Extra tags such as `t=s` (RFC 6376 §3.6.1). */
  readonly flags?: string;
}

export interface DmarcPolicy {
  readonly p: 'none' | 'quarantine' | 'reject';
  readonly sp?: 'none' | 'quarantine' | 'reject';
  readonly adkim?: 'r' | 's';
  readonly aspf?: 'r' | 's';
  readonly pct?: number;
  /** Aggregate report addresses, e.g. `['mailto:dmarc@org-a.example']`. */
  readonly rua?: readonly string[];
  readonly ruf?: readonly string[];
}

export interface MtaStsPolicy {
  /** Changes whenever the policy changes (RFC 8461 §3.1: 1–32 alphanumerics). */
  readonly id: string;
  readonly mode: 'enforce' | 'testing' | 'none';
  readonly mx: readonly string[];
  /** Seconds, at most 31 557 600 (RFC 8461 §3.2). */
  readonly maxAge: number;
}

const NODE_RRTYPES = new Set(['A', 'AAAA', 'ANY', 'CAA', 'CNAME', 'MX', 'NAPTR', 'NS', 'PTR', 'SOA', 'SRV', 'TLSA', 'TXT']);
const STORED: ReadonlySet<string> = new Set<RrType>(['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'PTR']);
const MAX_CNAME_CHAIN = 8;
const MAX_QUERY_LOG = 10_000;

/** What {@link DnsZone.snapshot} keeps: the records (lists copied) and the MTA-STS policies. */
export interface DnsZoneSnapshot {
  readonly records: ReadonlyMap<string, ReadonlyMap<RrType, readonly unknown[]>>;
  readonly mtaSts: ReadonlyMap<string, MtaStsPolicy>;
}

/** Copies the record lists (records themselves are never edited in place: adding pushes, removing filters). */
function copyRecords(from: ReadonlyMap<string, ReadonlyMap<RrType, readonly unknown[]>>): Map<string, Map<RrType, unknown[]>> {
  return new Map([...from].map(([name, byType]) => [name, new Map([...byType].map(([type, list]) => [type, [...list]]))]));
}

function syscallOf(rrtype: string): string {
  const t = rrtype.toLowerCase();
  return `query${t.charAt(0).toUpperCase()}${t.slice(1)}`;
}

function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * Splits a TXT value into character-strings of at most 255 bytes (RFC 1035 §3.3.14), never inside
 * a UTF-8 sequence, as a real zone serves a long DKIM key.
 */
export function splitTxt(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [''];
  const chunks: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + 255, bytes.length);
    // Back off over UTF-8 continuation bytes (10xxxxxx) so each chunk decodes on its own.
    while (end < bytes.length && end > start && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    chunks.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  return chunks;
}

/** The `in-addr.arpa` / `ip6.arpa` name of an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(address: string): string {
  if (isIPv4(address)) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  if (isIPv6(address)) {
    const [head = '', tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return `${groups
      .map((g) => g.padStart(4, '0'))
      .join('')
      .split('')
      .reverse()
      .join('.')}.ip6.arpa`;
  }
  throw new SsmaxError('USAGE', `Cannot build a reverse name for "${address}". It is not an IP address.`);
}

/** Builds the RFC 8461 §3.2 policy file text. */
export function mtaStsPolicyText(policy: MtaStsPolicy): string {
  return ['version: STSv1', `mode: ${policy.mode}`, ...policy.mx.map((mx) => `mx: ${mx}`), `max_age: ${policy.maxAge}`, ''].join('\n');
}

/**
 * The simulated world's DNS: an in-memory zone answering through an injected {@link DnsResolver}
 * (never the system's). Publishing helpers write the TXT records SPF, DKIM, DMARC, MTA-STS and
 * TLSRPT expect, so the same mailauth code that runs on the Internet evaluates them.
 */
export class DnsZone {
  readonly #records = new Map<string, Map<RrType, unknown[]>>();
  readonly #faults: DnsFault[] = [];
  readonly #queries: DnsQuery[] = [];
  readonly #mtaSts = new Map<string, MtaStsPolicy>();

  /** A resolver bound to this zone, with the `dns.promises.resolve` contract. */
  readonly resolver: DnsResolver = ((name: string, rrtype = 'A') => this.#resolve(name, rrtype)) as DnsResolver;

  /** A reverse resolver bound to this zone, with the `dns.promises.reverse` contract. */
  readonly reverse: DnsReverser = async (address: string) => {
    let name: string;
    try {
      name = reverseName(address);
    } catch {
      const err = new TypeError(`The "ip" argument must be a valid IP address. Received '${address}'`);
      throw Object.assign(err, { code: 'ERR_INVALID_ARG_VALUE' });
    }
    try {
      return (await this.#resolve(name, 'PTR')) as string[];
    } catch (err) {
      if (err instanceof DnsError) throw new DnsError(err.code, 'getHostByAddr', address);
      throw err;
    }
  };

  #add(name: string, type: RrType, value: unknown): void {
    const n = normalise(name);
    if (!n) throw new SsmaxError('USAGE', 'Cannot add a DNS record. The name is empty.');
    let byType = this.#records.get(n);
    if (!byType) this.#records.set(n, (byType = new Map()));
    const list = byType.get(type) ?? [];
    byType.set(type, list);
    list.push(value);
  }

  addA(name: string, address: string): this {
    if (!isIPv4(address)) throw new SsmaxError('USAGE', `Cannot add an A record for ${name}. "${address}" is not an IPv4 address.`);
    this.#add(name, 'A', address);
    return this;
  }

  addAaaa(name: string, address: string): this {
    if (!isIPv6(address)) throw new SsmaxError('USAGE', `Cannot add an AAAA record for ${name}. "${address}" is not an IPv6 address.`);
    this.#add(name, 'AAAA', address);
    return this;
  }

  addMx(name: string, exchange: string, priority = 10): this {
    if (!Number.isInteger(priority) || priority < 0 || priority > 65535) {
      throw new SsmaxError('USAGE', `Cannot add an MX record for ${name}. Priority ${priority} is not a 16-bit preference (RFC 1035 §3.3.9).`);
    }
    this.#add(name, 'MX', { exchange: normalise(exchange), priority } satisfies MxRecord);
    return this;
  }

  /** Adds one TXT record, split into 255-byte character-strings like a real zone. */
  addTxt(name: string, text: string): this {
    this.#add(name, 'TXT', splitTxt(text));
    return this;
  }

  /** Adds one TXT record with the character-strings given (each at most 255 bytes). */
  addTxtChunks(name: string, chunks: readonly string[]): this {
    for (const c of chunks) {
      if (Buffer.byteLength(c, 'utf8') > 255) {
        throw new SsmaxError('USAGE', `Cannot add a TXT record for ${name}. A character-string is longer than 255 bytes (RFC 1035 §3.3).`);
      }
    }
    this.#add(name, 'TXT', [...chunks]);
    return this;
  }

  addCname(name: string, target: string): this {
    this.#add(name, 'CNAME', normalise(target));
    return this;
  }

  /** Adds the PTR record of `address` (for reverse lookups). */
  addPtr(address: string, name: string): this {
    this.#add(reverseName(address), 'PTR', normalise(name));
    return this;
  }

  /** Removes records at `name` (of one type, or all); returns how many were removed. */
  remove(name: string, rrtype?: RrType, filter?: (value: unknown) => boolean): number {
    const n = normalise(name);
    const byType = this.#records.get(n);
    if (!byType) return 0;
    let removed = 0;
    for (const [type, list] of byType) {
      if (rrtype !== undefined && type !== rrtype) continue;
      const keep = filter ? list.filter((v) => !filter(v)) : [];
      removed += list.length - keep.length;
      if (keep.length) byType.set(type, keep);
      else byType.delete(type);
    }
    if (byType.size === 0) this.#records.delete(n);
    return removed;
  }

  /** Replaces the TXT records at `name` whose text starts with `tag` (e.g. `v=spf1`) by `text`. */
  #replaceTagged(name: string, tag: RegExp, text: string): void {
    this.remove(name, 'TXT', (v) => tag.test((v as string[]).join('')));
    this.addTxt(name, text);
  }

  /** Publishes the SPF record of `domain` (RFC 7208 §4.5 allows only one; this replaces it). */
  publishSpf(domain: string, policy: SpfPolicy): string {
    const terms = [
      'v=spf1',
      ...(policy.a ? ['a'] : []),
      ...(policy.mx ? ['mx'] : []),
      ...(policy.ip4 ?? []).map((ip) => `ip4:${ip}`),
      ...(policy.ip6 ?? []).map((ip) => `ip6:${ip}`),
      ...(policy.include ?? []).map((d) => `include:${d}`),
      policy.all ?? '-all',
    ];
    const text = terms.join(' ');
    this.#replaceTagged(domain, /^v=spf1(\s|$)/i, text);
    return text;
  }

  /**
   * Publishes a DKIM key record at `<selector>._domainkey.<domain>` (RFC 6376 §3.6.1). RSA keys
   * are published as base64 SubjectPublicKeyInfo; Ed25519 keys as the bare 32-byte key (RFC 8463 §4.2).
   */
  publishDkim(domain: string, selector: string, key: DkimKey): string {
    const pub =
      typeof key.publicKey === 'string' ? createPublicKey(key.publicKey) : key.publicKey.type === 'private' ? createPublicKey(key.publicKey) : key.publicKey;
    const spki = pub.export({ type: 'spki', format: 'der' });
    let k: string;
    let p: string;
    if (pub.asymmetricKeyType === 'rsa') {
      k = 'rsa';
      p = spki.toString('base64');
    } else if (pub.asymmetricKeyType === 'ed25519') {
      k = 'ed25519';
      p = spki.subarray(spki.length - 32).toString('base64');
    } else {
      throw new SsmaxError('UNSUPPORTED_ALGORITHM', `Cannot publish a DKIM key for ${domain}. Key type ${pub.asymmetricKeyType} is neither rsa nor ed25519.`);
    }
    const text = `v=DKIM1; k=${k}; ${key.flags ? `${key.flags}; ` : ''}p=${p}`;
    const name = `${selector}._domainkey.${domain}`;
    this.remove(name, 'TXT');
    this.addTxt(name, text);
    return text;
  }

  /** Publishes `_dmarc.<domain>` (RFC 7489 §6.3). */
  publishDmarc(domain: string, policy: DmarcPolicy): string {
    const tags = [
      'v=DMARC1',
      `p=${policy.p}`,
      ...(policy.sp ? [`sp=${policy.sp}`] : []),
      ...(policy.adkim ? [`adkim=${policy.adkim}`] : []),
      ...(policy.aspf ? [`aspf=${policy.aspf}`] : []),
      ...(policy.pct !== undefined ? [`pct=${policy.pct}`] : []),
      ...(policy.rua?.length ? [`rua=${policy.rua.join(',')}`] : []),
      ...(policy.ruf?.length ? [`ruf=${policy.ruf.join(',')}`] : []),
    ];
    const text = tags.join('; ');
    this.#replaceTagged(`_dmarc.${domain}`, /^v=DMARC1\b/i, text);
    return text;
  }

  /**
   * Publishes `_mta-sts.<domain>` TXT `v=STSv1; id=…` (RFC 8461 §3.1) and keeps the policy the
   * `mta-sts.<domain>` HTTPS server serves (see {@link mtaStsPolicy}).
   */
  publishMtaSts(domain: string, policy: MtaStsPolicy): string {
    if (!/^[A-Za-z0-9]{1,32}$/.test(policy.id)) {
      throw new SsmaxError('USAGE', `Cannot publish an MTA-STS policy for ${domain}. Id "${policy.id}" is not 1-32 alphanumerics (RFC 8461 §3.1).`);
    }
    const text = `v=STSv1; id=${policy.id};`;
    this.#replaceTagged(`_mta-sts.${domain}`, /^v=STSv1\b/i, text);
    this.#mtaSts.set(normalise(domain), policy);
    return text;
  }

  /** The MTA-STS policy file text of `domain`, or `undefined` when none is published. */
  mtaStsPolicy(domain: string): string | undefined {
    const policy = this.#mtaSts.get(normalise(domain));
    return policy && mtaStsPolicyText(policy);
  }

  /** Withdraws the MTA-STS policy of `domain` (TXT record and policy file). */
  withdrawMtaSts(domain: string): void {
    this.remove(`_mta-sts.${domain}`, 'TXT', (v) => /^v=STSv1\b/i.test((v as string[]).join('')));
    this.#mtaSts.delete(normalise(domain));
  }

  /** Publishes `_smtp._tls.<domain>` TXT `v=TLSRPTv1; rua=…` (RFC 8460 §3). */
  publishTlsRpt(domain: string, rua: readonly string[]): string {
    const text = `v=TLSRPTv1; rua=${rua.join(',')}`;
    this.#replaceTagged(`_smtp._tls.${domain}`, /^v=TLSRPTv1\b/i, text);
    return text;
  }

  /**
   * Makes resolver calls fail with `fault.code` until the returned handle is disposed. Faults are
   * checked before records, so SERVFAIL on an existing name behaves like a broken authority.
   */
  injectFault(fault: DnsFault): Disposable & { remove(): void } {
    const f = { ...fault, name: fault.name === '*' ? '*' : normalise(fault.name) };
    this.#faults.push(f);
    const remove = (): void => {
      const i = this.#faults.indexOf(f);
      if (i >= 0) this.#faults.splice(i, 1);
    };
    return { remove, [Symbol.dispose]: remove };
  }

  /**
   * The zone's records and MTA-STS policies as they are now, to put back with {@link restore} (a world
   * reused from one scenario cell to the next takes back what one cell's actors published). Injected
   * faults and the query log are not part of it.
   */
  snapshot(): DnsZoneSnapshot {
    return { records: copyRecords(this.#records), mtaSts: new Map(this.#mtaSts) };
  }

  /** Puts back the records and MTA-STS policies of `s`: whatever was added, replaced or removed since is undone. */
  restore(s: DnsZoneSnapshot): void {
    this.#records.clear();
    for (const [name, byType] of copyRecords(s.records)) this.#records.set(name, byType);
    this.#mtaSts.clear();
    for (const [domain, policy] of s.mtaSts) this.#mtaSts.set(domain, policy);
  }

  /** Resolver calls so far (most recent last, at most 10 000). */
  queries(): readonly DnsQuery[] {
    return [...this.#queries];
  }

  #log(name: string, rrtype: string, outcome: DnsQuery['outcome']): void {
    if (this.#queries.length >= MAX_QUERY_LOG) this.#queries.shift();
    this.#queries.push({ name, rrtype, outcome });
  }

  #exists(name: string): boolean {
    if (this.#records.has(name)) return true;
    // An empty non-terminal (e.g. `_domainkey.org.example`) exists: NODATA, not NXDOMAIN (RFC 8020 §2).
    const suffix = `.${name}`;
    for (const n of this.#records.keys()) if (n.endsWith(suffix)) return true;
    return false;
  }

  async #resolve(rawName: string, rawType: string): Promise<unknown[]> {
    if (typeof rawName !== 'string') {
      throw Object.assign(new TypeError('The "name" argument must be of type string.'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    const rrtype = String(rawType).toUpperCase();
    if (!NODE_RRTYPES.has(rrtype)) {
      throw Object.assign(new TypeError(`The argument 'rrtype' is invalid. Received '${rawType}'`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    const name = normalise(rawName);
    const syscall = syscallOf(rrtype);
    const fail = (code: DnsErrorCode): never => {
      this.#log(name, rrtype, code);
      throw new DnsError(code, syscall, rawName);
    };
    const fault = this.#faults.find((f) => (f.name === '*' || f.name === name) && (f.rrtype === undefined || f.rrtype.toUpperCase() === rrtype));
    if (fault) fail(fault.code);
    if (!STORED.has(rrtype)) fail(this.#exists(name) ? (rrtype === 'ANY' ? 'ENOTIMP' : 'ENODATA') : 'ENOTFOUND');

    let current = name;
    for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
      const byType = this.#records.get(current);
      const direct = byType?.get(rrtype as RrType);
      if (direct?.length) {
        this.#log(name, rrtype, 'answer');
        // Copies, so callers that mutate answers (mailauth sorts MX) cannot edit the zone.
        return direct.map((v) => (Array.isArray(v) ? [...v] : typeof v === 'object' ? { ...(v as object) } : v));
      }
      const cname = rrtype === 'CNAME' ? undefined : (byType?.get('CNAME')?.[0] as string | undefined);
      if (cname === undefined) break;
      current = cname;
    }
    return fail(this.#exists(current) ? 'ENODATA' : 'ENOTFOUND');
  }
}
