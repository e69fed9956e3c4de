import { describe, expect, it } from 'vitest';
import { normaliseAddress, originatorOf, parseAddressList, parseMailboxList, senderIsAuthor } from './address.js';

const addresses = (v: string) => parseMailboxList(v).map((m) => m.address);
const headers = (...lines: [string, string][]) => lines.map(([name, value]) => ({ name, value }));

describe('parseMailboxList (RFC 5322 §3.4)', () => {
  it('takes apart name-addr, addr-spec, quoted display names, comments and encoded words', () => {
    expect(parseMailboxList('"Alice Example" <alice@Org-A.Example>')).toEqual([
      { displayName: 'Alice Example', localPart: 'alice', domain: 'org-a.example', address: 'alice@org-a.example' },
    ]);
    expect(addresses('bob@org-b.example (Bob, the boss), Carol <carol@org-b.example>')).toEqual(['bob@org-b.example', 'carol@org-b.example']);
    expect(parseMailboxList('=?UTF-8?B?5bGx55Sw?= <yamada@org-a.example>')[0]!.displayName).toBe('山田');
    expect(parseMailboxList('John Q. Public <jqp@example.com>')[0]!.displayName).toBe('John Q. Public');
    expect(addresses('"ceo@org-a.example" <m@evil.example>')).toEqual(['m@evil.example']);
    expect(addresses('user@[192.0.2.1]')).toEqual(['user@[192.0.2.1]']);
    expect(addresses('alice @ org-a.example')).toEqual(['alice@org-a.example']);
  });

  it('keeps the local part as written and quotes it only where RFC 5321 §4.1.2 needs it', () => {
    expect(addresses('Alice.Smith@ORG-A.example')).toEqual(['Alice.Smith@org-a.example']);
    expect(addresses('"alice"@org-a.example')).toEqual(['alice@org-a.example']);
    expect(addresses('"john doe"@org-a.example')).toEqual(['"john doe"@org-a.example']);
    expect(addresses('"a\\"b"@x.example')).toEqual(['"a\\"b"@x.example']);
  });

  it('refuses what two readers could take apart differently', () => {
    for (const bad of [
      'ceo@org-a.example <m@evil.example>', // an unquoted @ in a display name
      '<@relay.example:m@evil.example>', // obsolete source route
      'alice@org-a.example,, bob@org-b.example', // empty list element
      'alice@org-a.example,',
      'a . b@x.example', // spaces inside a dot-atom (obsolete)
      'a..b@x.example',
      '"unclosed@x.example',
      'Alice (unclosed <alice@x.example>',
      'Group: alice@x.example;', // a group in a mailbox-list
      'alice@x.example\u0000',
      '',
      'no-at-sign',
    ]) {
      expect(() => parseMailboxList(bad), bad).toThrow(expect.objectContaining({ code: 'MALFORMED_MIME' }));
    }
  });
});

describe('parseAddressList', () => {
  it('flattens groups, empty ones included', () => {
    expect(parseAddressList('Team: a@x.example, B <b@x.example>;, c@y.example, Nobody:;').map((m) => m.address)).toEqual([
      'a@x.example',
      'b@x.example',
      'c@y.example',
    ]);
  });
});

describe('normaliseAddress', () => {
  it('lower-cases the domain only, also for values that are no addr-spec', () => {
    expect(normaliseAddress(' Alice@Org-A.EXAMPLE ')).toBe('Alice@org-a.example');
    expect(normaliseAddress('"alice"@Org-A.example')).toBe('alice@org-a.example');
    expect(normaliseAddress('not an address@X.example')).toBe('not an address@x.example');
  });
});

describe('originatorOf', () => {
  it('binds exactly one From mailbox', () => {
    const o = originatorOf(headers(['From', 'Alice <alice@org-a.example>'], ['To', 'bob@org-b.example']));
    expect(o).toMatchObject({ ok: true, from: { address: 'alice@org-a.example' } });
  });

  it('refuses the From that two parsers read as a member and as an outsider (issue 10 item 4)', () => {
    // The first angle-address is the outsider, the first mailbox the member.
    const o = originatorOf(headers(['From', 'alice@org-a.example, <m@evil.example>']));
    expect(o.ok).toBe(false);
    expect(o.ok ? [] : o.mailboxes.map((m) => m.address)).toEqual(['alice@org-a.example', 'm@evil.example']);
    expect(originatorOf(headers(['From', 'a@x.example'], ['From', 'b@y.example'])).ok).toBe(false);
    expect(originatorOf(headers(['To', 'a@x.example'])).ok).toBe(false);
    expect(originatorOf(headers(['From', 'ceo@org-a.example <m@evil.example>'])).ok).toBe(false);
  });

  it('reads Sender as RFC 5322 §3.6.2 writes it, and tells whether the author transmitted', () => {
    const same = originatorOf(headers(['From', 'alice@org-a.example'], ['Sender', 'Alice <alice@ORG-A.example>']));
    expect(same.ok && senderIsAuthor(same)).toBe(true);
    const other = originatorOf(headers(['From', 'm@evil.example'], ['Sender', 'alice@org-a.example']));
    expect(other.ok && senderIsAuthor(other)).toBe(false);
    expect(originatorOf(headers(['From', 'a@x.example'], ['Sender', 'a@x.example, b@x.example'])).ok).toBe(false);
    expect(originatorOf(headers(['From', 'a@x.example'], ['Sender', 'a@x.example'], ['Sender', 'a@x.example'])).ok).toBe(false);
  });
});
