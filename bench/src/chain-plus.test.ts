import { describe, expect, it } from 'vitest';
import { plusSuffix, renderPlusSection, tapSnapshot, wireBetween } from './chain-plus.js';
import type { BenchCase } from './results.js';

const conn = (id: number, service: string, leg: string, up: number, down: number) => ({
  id,
  service,
  leg,
  bytes: { 'client-to-server': up, 'server-to-client': down },
});

describe('chain-plus wire bytes', () => {
  it('counts the submission and the relay once (a forwarded connection, or the client-side leg of an on-path one), and only the bytes after the first snapshot', () => {
    const before = tapSnapshot(
      { tap: { connections: () => [conn(1, 'mx.org-b.example:25', 'client-side', 1000, 200), conn(2, 'mx.org-b.example:25', 'upstream', 1000, 200)] } },
      'org-a.example',
      'org-b.example',
    );
    const after = tapSnapshot(
      {
        tap: {
          connections: () => [
            conn(1, 'mx.org-b.example:25', 'client-side', 5000, 400),
            conn(2, 'mx.org-b.example:25', 'upstream', 5000, 400),
            conn(3, 'msa.org-a.example:587', 'forwarded', 3000, 100),
            conn(4, 'msa.org-b.example:587', 'client-side', 9999, 9999),
            conn(5, 'registry.example:443', 'client-side', 9999, 9999),
          ],
        },
      },
      'org-a.example',
      'org-b.example',
    );
    expect(wireBetween(before, after)).toEqual({ submission: 3100, relay: 4200 });
  });

  it('names ssmax-plus cases by their hold and sets each beside its ssmax-org case', () => {
    expect(plusSuffix(0)).toBe('/no-hold');
    expect(plusSuffix(60)).toBe('/hold60s');
    const c = (name: string, opsPerSec: number, details: Record<string, number>): BenchCase => ({
      name,
      size: 1024,
      opsPerSec,
      mbPerSec: 0,
      peakRssDelta: null,
      references: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
      ratios: { opensslCms: null, opensslCmsNoStartup: null, cryptoFloor: null },
      details,
    });
    const lines = renderPlusSection([
      c('chain/ssmax-org/1KiB/c4', 10, { latencyP50Ms: 100, latencyP99Ms: 200, wireBytesPerMailSubmission: 9000, wireBytesPerMailRelay: 12000 }),
      c('chain/ssmax-plus/1KiB/c4/no-hold', 8, {
        latencyP50Ms: 120,
        latencyP99Ms: 260,
        wireBytesPerMailSubmission: 10000,
        wireBytesPerMailRelay: 14000,
        holdSeconds: 0,
      }),
    ]);
    expect(lines.at(-1)).toBe('| chain/ssmax-plus/1KiB/c4/no-hold | 8.00 | 0.80 | 120 | 260 | 100 / 200 | 10000 | 14000 | 9000 / 12000 | 0 |');
    expect(renderPlusSection([c('chain/ssmax-org/1KiB/c4', 10, {})])).toEqual([]);
  });
});
