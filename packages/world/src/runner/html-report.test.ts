import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { BUNDLED_SCENARIOS, loadScenarios } from './load-scenarios.js';
import { parseProfiles, runMatrix } from './run-matrix.js';
import { writeReport } from './write-report.js';
import type { CellExecutor, CellRun, JourneyEvent, MatrixProfile, Outcome, Scenario } from './types.js';

/**
 * The one browser global the page function below calls (playwright runs it in the page). The lint program checks all
 * files as one Node program without the DOM lib; a `/// <reference lib="dom" />` here would add DOM to every file of
 * it and, among other things, retype fetch's `Response.json()` from `unknown` to `any` everywhere.
 */
declare function getComputedStyle(element: unknown): { readonly backgroundColor: string };

/**
 * FixtureExecutor: deterministic stand-in for the world, used only to feed the HTML report; it answers
 * with the expected outcome (one cell deliberately off) and a fixed four-hop SSMAX-like journey.
 */
class FixtureExecutor implements CellExecutor {
  constructor(private readonly overrides: Record<string, Partial<Outcome>>) {}
  async run(s: Scenario, p: MatrixProfile, ctx: { clock: () => Date }): Promise<CellRun> {
    const { reason: _r, ...expected } = s.expected[p]!;
    const at = ctx.clock().toISOString();
    const hop = (actor: string, procedure: number, payload: JourneyEvent['payload'], check: string): JourneyEvent => ({
      messageId: `<${s.id}@fixture>`,
      actor,
      procedure,
      at,
      checks: [{ name: check, result: 'pass' }],
      payload,
    });
    const events = [
      hop('org-a/user-agent', 3, 'ciphertext', 'card-pin'),
      hop('org-a/msa', 4, 'ciphertext', 'user-signature'),
      hop('org-a/inspection', 5, 'plaintext', 'dlp'),
      hop('org-b/mta-in', 7, 'ciphertext', 'org-signature'),
    ];
    return { actual: { ...expected, ...this.overrides[`${s.id}#${p}`] }, events };
  }
}

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('matrix.html', () => {
  let browser: Browser;
  let dir: string;
  let htmlPath: string;
  let cells: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssmax-html-'));
    const scenarios = loadScenarios([BUNDLED_SCENARIOS]);
    const m = await runMatrix({
      scenarios,
      profiles: parseProfiles([]),
      executor: new FixtureExecutor({ 'i1-server-takeover-invoice-fraud#ssmax-org': { verdict: 'delivered', identityShown: 'identity-proofed' } }),
      seed: 5,
      clockStart: new Date('2025-04-01T09:00:00Z'),
      meta: { commit: 'fixture', node: process.version, openssl: 'OpenSSL 3.0.19', oracles: { openssl: '3.0.19', gpgsm: '2.2.40', docker: 'absent' } },
    });
    cells = m.results.length;
    htmlPath = writeReport(dir, m, scenarios).html;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders one coloured cell per result, marks the mismatch, and shows a journey when a cell is clicked', async () => {
    const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(htmlPath).href);
    expect(await page.locator('td.cell[data-i]').count()).toBe(cells);
    expect(await page.locator('header .meta.oracles').textContent()).toBe('oracles: openssl 3.0.19 · gpgsm 2.2.40 · docker absent');
    // Colours come from the verdict class.
    const bg = (sel: string) =>
      page
        .locator(sel)
        .first()
        .evaluate((e: unknown) => getComputedStyle(e).backgroundColor);
    expect(await bg('td.cell.v-blocked')).toBe('rgb(215, 230, 255)');
    expect(await bg('td.cell.v-delivered:not(.mismatch)')).toBe('rgb(227, 244, 229)');
    expect(await bg('td.cell.v-flagged')).toBe('rgb(255, 241, 194)');
    expect(await bg('td.cell.v-not-sent')).toBe('rgb(234, 223, 247)');
    expect(await page.locator('td.cell.mismatch').count()).toBe(1);
    expect(await page.locator('td.cell.leak-files .b.leak-files').count()).toBeGreaterThan(10);
    expect(await page.locator('td.cell.malware .b.mal').count()).toBeGreaterThan(5);
    expect(await page.locator('td.cell.omitted').count()).toBeGreaterThan(0);

    await page.locator('td.cell.mismatch').click();
    await expect.poll(() => page.locator('#hops li.hop').count()).toBe(4);
    expect(await page.locator('#hops .actor').allTextContents()).toEqual(['org-a/user-agent', 'org-a/msa', 'org-a/inspection', 'org-b/mta-in']);
    expect(await page.locator('#hops .procedure').allTextContents()).toEqual(['(3)', '(4)', '(5)', '(7)']);
    expect(await page.locator('#hops li.hop.pl-plaintext .actor').allTextContents()).toEqual(['org-a/inspection']);
    expect(await page.locator('#journey h2').textContent()).toBe('i1-server-takeover-invoice-fraud [ssmax-org]');
    expect(await page.locator('#journey table.cmp tr.diff td:first-child').allTextContents()).toEqual(['verdict', 'identityShown']);
    await page.screenshot({ path: '/tmp/ssmax-matrix.png', fullPage: false });
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
    await page.close();
  });
});
