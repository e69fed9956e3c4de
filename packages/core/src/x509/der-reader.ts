/**
 * Small, total readers over asn1js nodes: each either returns the expected value or throws a typed
 * SsmaxError, so callers never dereference a node of the wrong shape.
 */
import * as asn1js from 'asn1js';
import { parseDer, SMALL_DER_LIMITS } from '../asn1.js';
import { decodeOidContent } from '../der/ber-reader.js';
import { SsmaxError, type ErrorCode } from '../errors.js';

export class DerReader {
  constructor(
    private readonly code: ErrorCode,
    private readonly what: string,
  ) {}

  fail(reason: string): never {
    throw new SsmaxError(this.code, `Cannot parse ${this.what}. ${reason}.`);
  }

  parse(bytes: Uint8Array): asn1js.AsnType {
    return parseDer(bytes, this.what, SMALL_DER_LIMITS);
  }

  /** Runs a whole-structure read, turning any non-SsmaxError it throws into this reader's code. */
  guard<T>(read: (r: this) => T): T {
    try {
      return read(this);
    } catch (err) {
      if (err instanceof SsmaxError) throw err;
      throw new SsmaxError(this.code, `Cannot parse ${this.what}. Its structure is invalid.`, { cause: err });
    }
  }

  /** An Extension (RFC 5280 §4.1): extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING contents. */
  extension(node: asn1js.AsnType | undefined): { id: string; critical: boolean; value: Uint8Array } {
    const fields = this.sequence(node, 'Extension');
    const id = this.oid(fields[0], 'extnID');
    let critical = false;
    let valueNode = fields[1];
    if (valueNode && this.isUniversal(valueNode, 1)) {
      critical = this.boolean(valueNode, 'critical');
      valueNode = fields[2];
      if (fields.length !== 3) this.fail(`extension ${id} has the wrong number of fields`);
    } else if (fields.length !== 2) this.fail(`extension ${id} has the wrong number of fields`);
    return { id, critical, value: this.octets(valueNode, `extension ${id} value`) };
  }

  isUniversal(node: asn1js.AsnType, tagNumber: number): boolean {
    return node.idBlock.tagClass === 1 && node.idBlock.tagNumber === tagNumber;
  }

  isContext(node: asn1js.AsnType, tagNumber: number): boolean {
    return node.idBlock.tagClass === 3 && node.idBlock.tagNumber === tagNumber;
  }

  sequence(node: asn1js.AsnType | undefined, name: string): asn1js.AsnType[] {
    if (!node || !(node instanceof asn1js.Sequence)) this.fail(`${name} is not a SEQUENCE`);
    return node.valueBlock.value;
  }

  /** The children of a constructed node (any tag), e.g. an EXPLICIT [n] wrapper. */
  children(node: asn1js.AsnType | undefined, name: string): asn1js.AsnType[] {
    const v = (node as asn1js.Constructed | undefined)?.valueBlock as { value?: unknown } | undefined;
    if (!node || !node.idBlock.isConstructed || !Array.isArray(v?.value)) this.fail(`${name} is not constructed`);
    return v.value as asn1js.AsnType[];
  }

  oid(node: asn1js.AsnType | undefined, name: string): string {
    if (!node || !(node instanceof asn1js.ObjectIdentifier) || node.idBlock.isConstructed) this.fail(`${name} is not an OBJECT IDENTIFIER`);
    // asn1js prints arcs above 2^53 as hex (the SSMAX arc is a 128-bit UUID arc), so decode here.
    const all = this.raw(node, name);
    const s = decodeOid(all.subarray(all.byteLength - node.lenBlock.length));
    if (s === undefined) this.fail(`${name} is not a well-formed OBJECT IDENTIFIER`);
    return s;
  }

  octets(node: asn1js.AsnType | undefined, name: string): Uint8Array {
    if (!node || !(node instanceof asn1js.OctetString) || node.idBlock.isConstructed) this.fail(`${name} is not a primitive OCTET STRING`);
    return new Uint8Array(node.valueBlock.valueHexView);
  }

  /** Content octets of a primitive node of any tag (IMPLICIT-tagged primitives). */
  primitiveContent(node: asn1js.AsnType | undefined, name: string): Uint8Array {
    if (!node || node.idBlock.isConstructed) this.fail(`${name} is not primitive`);
    const vb: object = node.valueBlock;
    const content = 'valueHexView' in vb ? vb.valueHexView : undefined;
    if (!(content instanceof Uint8Array)) this.fail(`${name} has no content octets`);
    return new Uint8Array(content);
  }

  boolean(node: asn1js.AsnType | undefined, name: string): boolean {
    if (!node || !(node instanceof asn1js.Boolean)) this.fail(`${name} is not a BOOLEAN`);
    return node.valueBlock.value;
  }

  /** INTEGER or ENUMERATED as a small non-negative number. */
  smallInt(node: asn1js.AsnType | undefined, name: string, enumerated = false): number {
    const ok = enumerated ? node instanceof asn1js.Enumerated : node instanceof asn1js.Integer;
    if (!node || !ok) this.fail(`${name} is not ${enumerated ? 'an ENUMERATED' : 'an INTEGER'}`);
    const bytes = (node as asn1js.Integer).valueBlock.valueHexView;
    if (bytes.byteLength === 0 || bytes.byteLength > 6 || ((bytes[0] ?? 0) & 0x80) !== 0) this.fail(`${name} is negative or too large`);
    let n = 0;
    for (const b of bytes) n = n * 256 + b;
    return n;
  }

  bitString(node: asn1js.AsnType | undefined, name: string): { bytes: Uint8Array; unusedBits: number } {
    if (!node || !(node instanceof asn1js.BitString) || node.idBlock.isConstructed) this.fail(`${name} is not a primitive BIT STRING`);
    const unusedBits = node.valueBlock.unusedBits;
    if (unusedBits > 7) this.fail(`${name} has ${unusedBits} unused bits`);
    return { bytes: new Uint8Array(node.valueBlock.valueHexView), unusedBits };
  }

  time(node: asn1js.AsnType | undefined, name: string): Date {
    if (!node || !(node instanceof asn1js.UTCTime || node instanceof asn1js.GeneralizedTime)) this.fail(`${name} is not a UTCTime or GeneralizedTime`);
    let d: Date;
    try {
      d = node.toDate();
    } catch {
      this.fail(`${name} is not a valid time`);
    }
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) this.fail(`${name} is not a valid time`);
    return d;
  }

  /** Any ASN.1 string type, as text. */
  string(node: asn1js.AsnType | undefined, name: string): string {
    const text = this.optionalString(node);
    if (text === undefined) this.fail(`${name} is not a character string`);
    return text;
  }

  /** The text of a universal-class node asn1js decodes to a string (the ASN.1 string types); undefined for any other node. */
  optionalString(node: asn1js.AsnType | undefined): string | undefined {
    if (!node || node.idBlock.tagClass !== 1) return undefined;
    const vb: object = node.valueBlock;
    const value = 'value' in vb ? vb.value : undefined;
    return typeof value === 'string' ? value : undefined;
  }

  /** The exact DER bytes the node was decoded from. */
  raw(node: asn1js.AsnType, name: string): Uint8Array {
    const v: Uint8Array | undefined = node.valueBeforeDecodeView;
    if (!(v instanceof Uint8Array) || v.byteLength === 0) this.fail(`${name} has no encoding`);
    return new Uint8Array(v);
  }
}

/** X.690 §8.19 OBJECT IDENTIFIER content octets to dotted form; undefined when truncated or not minimally encoded. */
export function decodeOid(content: Uint8Array): string | undefined {
  if (content.byteLength > 256) return undefined;
  try {
    return decodeOidContent(content, 'an OBJECT IDENTIFIER');
  } catch {
    return undefined;
  }
}
