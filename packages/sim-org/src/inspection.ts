import { readZip, looksLikeZip, zipBudget, type ZipLimits } from '@ssmax/core';
import { applyDlpRules, DEFAULT_DLP_RULES, type DlpRule } from './dlp-rules.js';
import { scanForMalware, DEFAULT_BLOCKED_EXTENSIONS } from './malware-scan.js';
import type { SimOrgErrorCode } from './errors.js';

/** Procedure (5) is outbound DLP, (8) is inbound malware inspection. */
export type InspectionDirection = 'outbound' | 'inbound';
export type VerdictAction = 'allow' | 'flag' | 'block';

/** One file as the inspection server sees it after the KMS decrypted it. */
export interface InspectedFile {
  name: string;
  contentType: string;
  bytes: Uint8Array;
}

export interface VerdictReason {
  /** Rule id: a DLP rule id, or eicar | executable | office-macro | script-extension | encrypted-zip | uninspectable, or the malware engine (`clamav`, its signature name in `detail`). */
  rule: string;
  detail: string;
  /** Path of the file, with archive members as "outer.zip/inner.txt". */
  file?: string;
  action: Exclude<VerdictAction, 'allow'>;
  /** Code for the reply table (reply-codes.ts). */
  code: SimOrgErrorCode;
}

/** The inspection outcome, as data. `action` is the strictest action among `reasons`. */
export interface InspectionVerdict {
  action: VerdictAction;
  reasons: VerdictReason[];
  /** Who judged the files, for the journey, e.g. "clamav (ClamAV 1.4.6, local signatures) and the file-name rules". */
  scannedBy?: string;
}

export interface InspectionPolicy {
  /** Outbound rules; default {@link DEFAULT_DLP_RULES}. */
  dlpRules: readonly DlpRule[];
  /** Encrypted archives cannot be inspected (the PPAP problem); what to do with them, both directions. */
  encryptedZip: VerdictAction;
  /** Archives that fail to parse, exceed limits or nest deeper than `maxZipDepth`. */
  uninspectable: Exclude<VerdictAction, 'allow'>;
  /** Macro-enabled Office files: some organisations only flag them. */
  officeMacro: Exclude<VerdictAction, 'allow'>;
  /** How many archive levels are opened (1 = the attachment itself is opened, not ZIPs inside it). */
  maxZipDepth: number;
  blockedExtensions: readonly string[];
  /**
   * Archive limits. `maxTotalBytes` and `maxEntries` are one budget for the whole mail: every archive
   * opened while inspecting it, at any depth and in any attachment, draws on the same budget.
   */
  zipLimits?: Partial<ZipLimits>;
  /**
   * Most milliseconds one mail's inspection may take (default 10 s). Inspection stops at the limit and
   * the mail counts as uninspectable; off the event loop ({@link inspectOffThread}) a worker that
   * overruns it is terminated.
   */
  timeLimitMs?: number;
  /**
   * Who judges file content inbound. 'rules' (what a bare {@link inspect} does): every rule of
   * malware-scan.ts. 'clamav': ClamAV scans each file (inspectOffThread with a scanner adds its
   * reasons) and decides EICAR and other signatures, macro projects in OLE2/OOXML and encrypted
   * archives; the rules here keep only what ClamAV has no equivalent for: file names and types
   * (script/executable extensions, macro-enabled Office types), native executables by magic bytes, and
   * the archive walk that reads member names for them (an archive it cannot list stays uninspectable).
   */
  malwareEngine?: 'rules' | 'clamav';
}

/** Default {@link InspectionPolicy.timeLimitMs}. */
export const DEFAULT_INSPECTION_TIME_LIMIT_MS = 10_000;

export const DEFAULT_INSPECTION_POLICY: InspectionPolicy = {
  dlpRules: DEFAULT_DLP_RULES,
  encryptedZip: 'block',
  uninspectable: 'block',
  officeMacro: 'block',
  maxZipDepth: 3,
  blockedExtensions: DEFAULT_BLOCKED_EXTENSIONS,
};

/**
 * Where an outbound mail goes, for DLP rules scoped by destination ({@link DlpRule} `appliesTo`).
 * Unknown membership counts as non-member, so a scoped rule fails closed.
 */
export interface InspectionDestination {
  /** The recipient domain is an SSMAX registry member. */
  readonly recipientMember?: boolean;
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|csv|x-csv|rtf)|message\/rfc822)|\+xml$/;
const TEXT_EXT = /\.(txt|csv|tsv|md|json|xml|html?|eml|rtf|log)$/i;

/** Text of a file for DLP, or undefined when it is binary. Undeclared files count as text if they are valid UTF-8 without NULs. */
function textOf(f: InspectedFile): string | undefined {
  const ct = f.contentType.toLowerCase();
  const declared = TEXT_TYPES.test(ct.split(';')[0]!.trim()) || TEXT_EXT.test(f.name);
  if (!declared && f.bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(f.bytes);
  } catch {
    if (!declared) return undefined;
    // Japanese text files are often Shift_JIS; the charset parameter may say so or be missing.
    const cs = /charset="?([\w-]+)/.exec(ct)?.[1] ?? 'shift_jis';
    try {
      return new TextDecoder(cs).decode(f.bytes);
    } catch {
      return new TextDecoder('shift_jis').decode(f.bytes);
    }
  }
}

const RANK: Record<VerdictAction, number> = { allow: 0, flag: 1, block: 2 };

/**
 * Inspects a mail's body and files for one direction and returns a verdict as data; never throws for
 * hostile input (a broken archive is an `uninspectable` reason, not an exception).
 */
export function inspect(
  direction: InspectionDirection,
  files: readonly InspectedFile[],
  body: string,
  policy: Partial<InspectionPolicy> = {},
  destination: InspectionDestination = {},
): InspectionVerdict {
  const pol: InspectionPolicy = { ...DEFAULT_INSPECTION_POLICY, ...policy };
  const budget = zipBudget(pol.zipLimits);
  const deadline = Date.now() + (pol.timeLimitMs ?? DEFAULT_INSPECTION_TIME_LIMIT_MS);
  let outOfTime = false;
  const reasons: VerdictReason[] = [];
  const add = (r: VerdictReason) => reasons.push(r);

  const dlp = (text: string, file?: string) => {
    for (const m of applyDlpRules(text, pol.dlpRules, destination)) {
      add({ rule: m.rule, detail: m.detail, action: m.action, code: 'DLP_BLOCK', ...(file === undefined ? {} : { file }) });
    }
  };

  const visit = (f: InspectedFile, path: string, depth: number) => {
    if (outOfTime) return;
    if (Date.now() > deadline) {
      outOfTime = true;
      add({
        rule: 'uninspectable',
        detail: `inspection did not finish within ${pol.timeLimitMs ?? DEFAULT_INSPECTION_TIME_LIMIT_MS} ms`,
        file: path,
        action: pol.uninspectable,
        code: 'UNINSPECTABLE',
      });
      return;
    }
    let memberNames: string[] = [];
    const isZip = looksLikeZip(f.bytes);
    let archive: ReturnType<typeof readZip> | undefined;
    if (isZip) {
      try {
        archive = readZip(f.bytes, pol.zipLimits, budget);
        memberNames = archive.entries.map((e) => e.name);
      } catch (err) {
        add({
          rule: 'uninspectable',
          detail: `archive cannot be read: ${(err as Error).message}`,
          file: path,
          action: pol.uninspectable,
          code: 'UNINSPECTABLE',
        });
      }
    }
    if (direction === 'inbound') {
      for (const m of scanForMalware(f, memberNames, { blockedExtensions: pol.blockedExtensions, contentRules: pol.malwareEngine !== 'clamav' })) {
        const action = m.rule === 'office-macro' ? pol.officeMacro : 'block';
        add({ rule: m.rule, detail: m.detail, file: path, action, code: 'MALWARE' });
      }
    } else if (!isZip) {
      const text = textOf(f);
      if (text !== undefined) dlp(text, path);
    }
    if (archive === undefined) return;
    if (depth >= pol.maxZipDepth) {
      add({ rule: 'uninspectable', detail: `archive nesting deeper than ${pol.maxZipDepth}`, file: path, action: pol.uninspectable, code: 'UNINSPECTABLE' });
      return;
    }
    for (const e of archive.entries) {
      const memberPath = `${path}/${e.name}`;
      if (e.isDirectory) continue;
      if (e.encrypted) {
        // With ClamAV as the engine its Heuristics.Encrypted.* finding on the archive is the verdict.
        if (pol.encryptedZip !== 'allow' && !(direction === 'inbound' && pol.malwareEngine === 'clamav')) {
          add({
            rule: 'encrypted-zip',
            detail: `encrypted archive member (${e.encryption}) cannot be inspected`,
            file: memberPath,
            action: pol.encryptedZip,
            code: 'ENCRYPTED_ZIP',
          });
        }
        // A script or executable name is visible even when the content is not.
        if (direction === 'inbound') {
          for (const m of scanForMalware({ name: e.name, contentType: '', bytes: new Uint8Array(0) }, [], { blockedExtensions: pol.blockedExtensions })) {
            add({ rule: m.rule, detail: m.detail, file: memberPath, action: 'block', code: 'MALWARE' });
          }
        }
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = archive.read(e);
      } catch (err) {
        add({
          rule: 'uninspectable',
          detail: `archive member cannot be read: ${(err as Error).message}`,
          file: memberPath,
          action: pol.uninspectable,
          code: 'UNINSPECTABLE',
        });
        continue;
      }
      visit({ name: e.name, contentType: '', bytes }, memberPath, depth + 1);
    }
  };

  if (direction === 'outbound') dlp(body);
  for (const f of files) visit(f, f.name, 0);

  const action = reasons.reduce<VerdictAction>((a, r) => (RANK[r.action] > RANK[a] ? r.action : a), 'allow');
  return { action, reasons };
}
