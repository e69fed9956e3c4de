/**
 * A VBA project storage as Office writes it into a macro-enabled document ([MS-OVBA] §2.2): the
 * `_VBA_PROJECT` and `dir` streams, one compressed module stream per module, and the `PROJECT` text
 * stream, in a compound file ({@link createCompoundFile}). The test bed's macro payloads use it so that
 * a real scanner finds the macros by parsing the project, as it does in real Office files, and not by a
 * part's name.
 */
import { createCompoundFile } from './cfb-writer.js';

/** One standard module: its name and VBA source text (Windows-1252, CRLF line ends as Office stores them). */
export interface VbaModule {
  readonly name: string;
  readonly source: string;
}

const CHUNK = 4096;

/**
 * [MS-OVBA] §2.4.1 CompressedContainer. Full 4096-byte chunks are stored raw (§2.4.1.1.5, flag 0); the
 * last, shorter chunk is "compressed" with literal tokens only (§2.4.1.1.7: a FlagByte of 0 before each
 * eight bytes), which every decompressor reads. Literal tokens grow the data by an eighth, so a last
 * chunk above 3640 bytes would not fit a chunk (at most 4096 bytes of data): this writer refuses it.
 */
export function ovbaCompress(data: Uint8Array): Uint8Array {
  const out: number[] = [0x01];
  for (let at = 0; at < data.byteLength; at += CHUNK) {
    const chunk = data.subarray(at, at + CHUNK);
    const raw = chunk.byteLength === CHUNK;
    const body: number[] = [];
    if (raw) body.push(...chunk);
    else for (let i = 0; i < chunk.byteLength; i += 8) body.push(0x00, ...chunk.subarray(i, i + 8));
    if (body.length > CHUNK)
      throw new TypeError(
        `Cannot compress ${data.byteLength} bytes with literal tokens only. The last chunk (${chunk.byteLength} bytes) would exceed 4096 bytes.`,
      );
    // §2.4.1.1.5 CompressedChunkHeader: size - 3 in bits 0-11, signature 0b011, then the flag.
    const header = ((body.length + 2 - 3) & 0x0fff) | (0b011 << 12) | (raw ? 0 : 0x8000);
    out.push(header & 0xff, header >> 8, ...body);
  }
  return new Uint8Array(out);
}

const cp1252 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const utf16 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf16le'));

function record(id: number, data: Uint8Array): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt16LE(id, 0);
  h.writeUInt32LE(data.byteLength, 2);
  return Buffer.concat([h, data]);
}
const u16 = (v: number): Uint8Array => new Uint8Array([v & 0xff, v >> 8]);
const u32 = (v: number): Uint8Array => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return new Uint8Array(b);
};

/** [MS-OVBA] §2.3.4.2 dir stream (decompressed): PROJECTINFORMATION, no references, PROJECTMODULES. */
function dirStream(projectName: string, modules: readonly VbaModule[]): Uint8Array {
  const parts: Buffer[] = [
    record(0x0001, u32(0x00000001)), // PROJECTSYSKIND: 32-bit Windows
    record(0x0002, u32(0x00000409)), // PROJECTLCID
    record(0x0014, u32(0x00000409)), // PROJECTLCIDINVOKE
    record(0x0003, u16(1252)), // PROJECTCODEPAGE
    record(0x0004, cp1252(projectName)), // PROJECTNAME
    record(0x0005, new Uint8Array(0)), // PROJECTDOCSTRING
    record(0x0040, new Uint8Array(0)), // its Unicode form
    record(0x0006, new Uint8Array(0)), // PROJECTHELPFILEPATH
    record(0x003d, new Uint8Array(0)), // PROJECTHELPFILEPATH2
    record(0x0007, u32(0)), // PROJECTHELPCONTEXT
    record(0x0008, u32(0)), // PROJECTLIBFLAGS
    // PROJECTVERSION: Reserved 4 (a fixed size field that does not count the minor version), major, minor.
    Buffer.concat([Buffer.from(u16(0x0009)), Buffer.from(u32(4)), Buffer.from(u32(1)), Buffer.from(u16(0))]),
    record(0x000c, new Uint8Array(0)), // PROJECTCONSTANTS
    record(0x003c, new Uint8Array(0)), // its Unicode form
    record(0x000f, u16(modules.length)), // PROJECTMODULES
    record(0x0013, u16(0xffff)), // PROJECTCOOKIE
  ];
  for (const m of modules) {
    parts.push(
      record(0x0019, cp1252(m.name)), // MODULENAME
      record(0x0047, utf16(m.name)), // MODULENAMEUNICODE
      record(0x001a, cp1252(m.name)), // MODULESTREAMNAME
      record(0x0032, utf16(m.name)), // its Unicode form
      record(0x001c, new Uint8Array(0)), // MODULEDOCSTRING
      record(0x0048, new Uint8Array(0)), // its Unicode form
      record(0x0031, u32(0)), // MODULEOFFSET: the source starts the stream (no performance cache)
      record(0x001e, u32(0)), // MODULEHELPCONTEXT
      record(0x002c, u16(0xffff)), // MODULECOOKIE
      record(0x0021, new Uint8Array(0)), // MODULETYPE: procedural
      record(0x002b, new Uint8Array(0)), // MODULETERMINATOR
    );
  }
  parts.push(Buffer.concat([Buffer.from(u16(0x0010)), Buffer.from(u32(0))])); // Terminator, Reserved
  return new Uint8Array(Buffer.concat(parts));
}

/** A `vbaProject.bin` (a compound file) holding `modules`, as in the `word/vbaProject.bin` part of a .docm. */
export function createVbaProject(modules: readonly VbaModule[], projectName = 'Project'): Uint8Array {
  // [MS-OVBA] §2.3.1 PROJECT stream: the project's properties as text, one line per module.
  const project = [
    'ID="{00000000-0000-0000-0000-000000000000}"',
    ...modules.map((m) => `Module=${m.name}`),
    `Name="${projectName}"`,
    'HelpContextID="0"',
    'VersionCompatible32="393222000"',
    '',
  ].join('\r\n');
  return createCompoundFile([
    // §2.3.4.1 _VBA_PROJECT: Reserved1 0x61CC, Version 0xFFFF (no compiled code: Office recompiles from source), Reserved2, Reserved3.
    { path: 'VBA/_VBA_PROJECT', data: new Uint8Array([0xcc, 0x61, 0xff, 0xff, 0x00, 0x00, 0x00]) },
    { path: 'VBA/dir', data: ovbaCompress(dirStream(projectName, modules)) },
    ...modules.map((m) => ({ path: `VBA/${m.name}`, data: ovbaCompress(cp1252(m.source)) })),
    { path: 'PROJECT', data: cp1252(project) },
  ]);
}
