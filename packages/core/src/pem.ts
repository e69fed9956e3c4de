import { SsmaxError } from './errors.js';

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/g;

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
}

/** Reads every PEM block in the text (RFC 7468), in order. */
export function decodePemAll(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    const body = (m[2] ?? '').replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
      throw new SsmaxError('MALFORMED_PEM', `Cannot decode the PEM block "${m[1]}". Its body is not base64.`);
    }
    out.push({ label: m[1] ?? '', der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return out;
}

/** Reads the one PEM block with the given label (or the first of any label). */
export function decodePem(text: string, label?: string): Uint8Array {
  const blocks = decodePemAll(text).filter((b) => label === undefined || b.label === label);
  const first = blocks[0];
  if (!first) {
    throw new SsmaxError('MALFORMED_PEM', `Cannot decode PEM. No ${label ?? 'PEM'} block was found.`);
  }
  return first.der;
}

export function encodePem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

/** True if the bytes look like PEM text rather than DER. */
export function looksLikePem(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  return /-----BEGIN [A-Z0-9 ]+-----/.test(head);
}

/** Accepts PEM or DER; returns DER. */
export function toDer(bytes: Uint8Array, label?: string): Uint8Array {
  return looksLikePem(bytes) ? decodePem(Buffer.from(bytes).toString('latin1'), label) : bytes;
}
