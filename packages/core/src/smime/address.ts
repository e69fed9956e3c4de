/**
 * RFC 5322 §3.4 addresses (with RFC 6532 UTF-8), parsed one way for every service that reads From,
 * Sender, To or Cc: the MSA (4), the MTA-in (7) and the user agent (10) must agree on who a mail is from,
 * or a From one of them reads as a member and another as an outsider slips between them (ssmax issue 10
 * item 4). The parser is strict: a value it cannot take apart is an error, never a guess. Obsolete
 * forms (RFC 5322 §4.4) that make an address ambiguous — routes, comments or spaces inside an address,
 * empty list elements — are refused; an obsolete phrase ("John Q. Public") is accepted, as it is only a
 * display name.
 */
import { SsmaxError } from '../errors.js';
import { decodeEncodedWords, parseHeaderSection, type MimeHeader } from './mime-headers.js';
import { canonicalizeLineEndings, DEFAULT_MIME_LIMITS } from './mime-bytes.js';

/** One mailbox (RFC 5322 §3.4 `mailbox`). */
export interface Mailbox {
  /** The display name, RFC 2047 encoded words decoded. */
  readonly displayName?: string;
  /** The local part as written; quotes only where RFC 5321 §4.1.2 needs them. */
  readonly localPart: string;
  /** Lower-case: domain names compare case-insensitively (RFC 4343); the local part does not (RFC 5321 §2.4). */
  readonly domain: string;
  /** `localPart@domain`: the form every comparison uses ({@link normaliseAddress}). */
  readonly address: string;
}

type Token =
  | { readonly kind: 'atom'; readonly text: string; readonly ws: boolean }
  | { readonly kind: 'quoted'; readonly text: string; readonly ws: boolean }
  | { readonly kind: 'literal'; readonly text: string; readonly ws: boolean }
  | { readonly kind: 'special'; readonly text: string; readonly ws: boolean };

// RFC 5322 §3.2.3 atext, plus UTF8-non-ascii (RFC 6532 §3.2).
const ATEXT = /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]/;
const DOT_ATOM_TEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+)*$/;

function malformed(what: string, reason: string): SsmaxError {
  return new SsmaxError('MALFORMED_MIME', `Cannot parse ${what}. ${reason}`);
}

function tokenize(value: string, what: string): Token[] {
  const out: Token[] = [];
  let ws = false;
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      ws = true;
      i++;
    } else if (c === '(') {
      // RFC 5322 §3.2.2 comment: nested, with quoted-pairs; it counts as whitespace.
      let depth = 0;
      for (; i < value.length; i++) {
        const d = value[i]!;
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth !== 0) throw malformed(what, 'A comment is not closed.');
      i++;
      ws = true;
    } else if (c === '"') {
      let text = '';
      let closed = false;
      for (i++; i < value.length; i++) {
        const d = value[i]!;
        if (d === '\\') {
          const n = value[++i];
          if (n === undefined) break;
          text += n;
        } else if (d === '"') {
          closed = true;
          break;
        } else if (d === '\r' || d === '\n') {
          // FWS inside a quoted string is unfolded (RFC 5322 §3.2.4).
        } else text += d;
      }
      if (!closed) throw malformed(what, 'A quoted string is not closed.');
      i++;
      out.push({ kind: 'quoted', text, ws });
      ws = false;
    } else if (c === '[') {
      const end = value.indexOf(']', i);
      if (end < 0) throw malformed(what, 'A domain literal is not closed.');
      const text = value.slice(i, end + 1);
      if (!/^\[[\x21-\x5a\x5e-\x7e]*\]$/.test(text))
        throw malformed(what, `The domain literal ${text.slice(0, 40)} holds characters RFC 5322 §3.4.1 does not allow.`);
      out.push({ kind: 'literal', text, ws });
      ws = false;
      i = end + 1;
    } else if ('<>:;@,.'.includes(c)) {
      out.push({ kind: 'special', text: c, ws });
      ws = false;
      i++;
    } else if (ATEXT.test(c)) {
      let j = i;
      while (j < value.length && ATEXT.test(value[j]!)) j++;
      out.push({ kind: 'atom', text: value.slice(i, j), ws });
      ws = false;
      i = j;
    } else {
      throw malformed(what, `The character U+${c.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} is not allowed here.`);
    }
  }
  return out;
}

/** The local part as RFC 5321 §4.1.2 writes it: quoted only when it is not a dot-atom. */
function canonicalLocal(t: Token): string {
  if (t.kind !== 'quoted') return t.text;
  return DOT_ATOM_TEXT.test(t.text) ? t.text : `"${t.text.replace(/["\\]/g, '\\$&')}"`;
}

class Parser {
  i = 0;
  constructor(
    private readonly t: readonly Token[],
    private readonly what: string,
  ) {}

  peek(offset = 0): Token | undefined {
    return this.t[this.i + offset];
  }
  isSpecial(ch: string, offset = 0): boolean {
    const k = this.peek(offset);
    return k?.kind === 'special' && k.text === ch;
  }
  fail(reason: string): never {
    throw malformed(this.what, reason);
  }
  expect(ch: string): void {
    if (!this.isSpecial(ch)) this.fail(`Expected "${ch}"${this.peek() ? ` before "${this.peek()!.text.slice(0, 20)}"` : ' at the end'}.`);
    this.i++;
  }

  /** dot-atom-text: atoms joined by dots, nothing in between (RFC 5322 §3.2.3). */
  dotAtom(part: string): string {
    const first = this.peek();
    if (first?.kind !== 'atom') this.fail(`The ${part} is missing.`);
    let text = first.text;
    this.i++;
    while (this.isSpecial('.')) {
      const dot = this.peek()!;
      const next = this.peek(1);
      if (dot.ws || next?.kind !== 'atom' || next.ws) this.fail(`The ${part} has an empty label or a space around a dot (obsolete syntax, RFC 5322 §4.4).`);
      text += `.${next.text}`;
      this.i += 2;
    }
    return text;
  }

  addrSpec(): { localPart: string; domain: string } {
    const l = this.peek();
    let localPart: string;
    if (l?.kind === 'quoted') {
      localPart = canonicalLocal(l);
      this.i++;
    } else localPart = this.dotAtom('local part');
    this.expect('@');
    const d = this.peek();
    let domain: string;
    if (d?.kind === 'literal') {
      domain = d.text;
      this.i++;
    } else domain = this.dotAtom('domain');
    return { localPart, domain: domain.toLowerCase() };
  }

  /** phrase = 1*word, and the obsolete phrase's dots (RFC 5322 §3.2.5, §4.1). */
  phrase(): string[] {
    const words: string[] = [];
    for (;;) {
      const k = this.peek();
      if (k?.kind === 'atom' || k?.kind === 'quoted') words.push(k.text);
      else if (k?.kind === 'special' && k.text === '.' && words.length > 0) words[words.length - 1] += '.';
      else break;
      this.i++;
    }
    return words;
  }

  mailbox(): Mailbox {
    const start = this.i;
    const words = this.phrase();
    if (this.isSpecial('<')) {
      this.i++;
      if (this.isSpecial('@')) this.fail('A source route in an address (obsolete syntax, RFC 5322 §4.4) is not accepted.');
      const spec = this.addrSpec();
      this.expect('>');
      const displayName = words.length > 0 ? decodeEncodedWords(words.join(' ')) : undefined;
      return { ...(displayName ? { displayName } : {}), ...spec, address: `${spec.localPart}@${spec.domain}` };
    }
    this.i = start;
    const spec = this.addrSpec();
    return { ...spec, address: `${spec.localPart}@${spec.domain}` };
  }

  /** address-list or mailbox-list: elements separated by commas, none empty. */
  list(groups: boolean): Mailbox[] {
    const out: Mailbox[] = [];
    if (this.peek() === undefined) this.fail('It names no address.');
    for (;;) {
      const start = this.i;
      this.phrase();
      if (this.isSpecial(':')) {
        if (!groups) this.fail('A group is not allowed here (RFC 5322 §3.6.2 From and Sender name mailboxes).');
        this.i++;
        while (!this.isSpecial(';')) {
          if (this.peek() === undefined) this.fail('A group is not closed with ";".');
          out.push(this.mailbox());
          if (this.isSpecial(',')) this.i++;
          else if (!this.isSpecial(';')) this.fail('Expected "," or ";" in a group.');
        }
        this.i++;
      } else {
        this.i = start;
        out.push(this.mailbox());
      }
      if (this.peek() === undefined) return out;
      this.expect(',');
      if (this.peek() === undefined || this.isSpecial(',')) this.fail('An element of the list is empty.');
    }
  }
}

/** The mailboxes of a mailbox-list (From, Sender, Reply-To). Throws MALFORMED_MIME. */
export function parseMailboxList(value: string, what = 'the address list'): Mailbox[] {
  return new Parser(tokenize(value, what), what).list(false);
}

/** The mailboxes of an address-list (To, Cc, Bcc), groups flattened. Throws MALFORMED_MIME. */
export function parseAddressList(value: string, what = 'the address list'): Mailbox[] {
  return new Parser(tokenize(value, what), what).list(true);
}

/**
 * An address (addr-spec) in the form every comparison uses: local part as written, domain lower-case.
 * A value that is not one addr-spec is only trimmed, with the part after its last "@" lower-cased.
 */
export function normaliseAddress(address: string): string {
  try {
    const m = parseMailboxList(address);
    if (m.length === 1 && m[0]!.displayName === undefined) return m[0]!.address;
  } catch {
    // not an addr-spec: below
  }
  const t = address.trim();
  const at = t.lastIndexOf('@');
  return at < 0 ? t : `${t.slice(0, at)}@${t.slice(at + 1).toLowerCase()}`;
}

/** Who a message is from, or why that cannot be told. */
export type Originator =
  | { readonly ok: true; readonly from: Mailbox; readonly sender?: Mailbox }
  | {
      readonly ok: false;
      readonly reason: string;
      /** Every mailbox the From field names, when it parses: for display, and for a check that is switched off. */
      readonly mailboxes: readonly Mailbox[];
    };

/**
 * The originator of a message as SSMAX binds it to one card signer: exactly one From field naming
 * exactly one mailbox (RFC 5322 §3.6.2 would need a Sender for several, and then no single author is
 * bound), and at most one Sender field naming one mailbox. Whether Sender may differ from From is the
 * caller's to decide ({@link senderIsAuthor}). Never throws.
 */
export function originatorOf(headers: readonly MimeHeader[]): Originator {
  const field = (name: string) => headers.filter((h) => h.name.toLowerCase() === name);
  const froms = field('from');
  if (froms.length === 0) return { ok: false, reason: 'the mail has no From field', mailboxes: [] };
  let mailboxes: Mailbox[];
  try {
    mailboxes = parseMailboxList(froms[0]!.value, 'the From field');
  } catch (e) {
    return { ok: false, reason: (e as Error).message, mailboxes: [] };
  }
  if (froms.length > 1) return { ok: false, reason: `the mail has ${froms.length} From fields (RFC 5322 §3.6 allows one)`, mailboxes };
  if (mailboxes.length !== 1)
    return {
      ok: false,
      reason: `From names ${mailboxes.length} mailboxes (${mailboxes.map((m) => m.address).join(', ')}); exactly one is bound to the signer`,
      mailboxes,
    };
  const from = mailboxes[0]!;
  const senders = field('sender');
  if (senders.length === 0) return { ok: true, from };
  if (senders.length > 1) return { ok: false, reason: `the mail has ${senders.length} Sender fields (RFC 5322 §3.6 allows one)`, mailboxes };
  let sender: Mailbox[];
  try {
    sender = parseMailboxList(senders[0]!.value, 'the Sender field');
  } catch (e) {
    return { ok: false, reason: (e as Error).message, mailboxes };
  }
  if (sender.length !== 1) return { ok: false, reason: `Sender names ${sender.length} mailboxes; RFC 5322 §3.6.2 allows one`, mailboxes };
  return { ok: true, from, sender: sender[0]! };
}

/**
 * RFC 5322 §3.6.2: Sender names the agent that transmitted the message. In signed SSMAX mail that agent is
 * the card holder who signed, who must be the author, so a Sender other than the From mailbox makes the
 * mail claim two originators (a client shows "Sender on behalf of From").
 */
export function senderIsAuthor(o: Extract<Originator, { ok: true }>): boolean {
  return o.sender === undefined || o.sender.address === o.from.address;
}

/**
 * {@link originatorOf} for a whole raw message: its header section parsed strictly (RFC 5322 §2.2: a
 * section that starts with a continuation line, or holds a line that is no field, binds no author, so
 * no reader can disagree about what it says). Never throws.
 */
export function originatorOfMessage(raw: Uint8Array): Originator {
  let headers: MimeHeader[];
  try {
    headers = parseHeaderSection(canonicalizeLineEndings(raw), 'the mail', DEFAULT_MIME_LIMITS).headers;
  } catch (e) {
    return { ok: false, reason: (e as Error).message, mailboxes: [] };
  }
  return originatorOf(headers);
}
