import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportFolder } from '../src/index.js';
import { makeSweepFixture, UNFINISHED_DIR } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';

// The callbacks below run in the page; the tsconfig has no DOM lib, so they name what they use.
type Graphic = { getBBox(): { width: number; height: number } };
type Img = { naturalWidth: number; complete: boolean };
const hasChromium = existsSync(CHROMIUM);

if (!hasChromium && process.env.CI) {
  it('needs Chromium for the HTML check', () => {
    throw new Error(`${CHROMIUM} not found: chromium must be installed on CI (apt-get install -y chromium)`);
  });
} else if (!hasChromium) {
  console.warn(`skipping the report.html check in Chromium: ${CHROMIUM} not found (apt-get install -y chromium)`);
}

describe.skipIf(!hasChromium)('report.html in headless Chromium', () => {
  let root: string;
  let browser: Browser;
  let page: Page;
  /** Every request that is neither file:// nor data: (blocked): there must be none. */
  const external: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    root = makeSweepFixture();
    const { files } = reportFolder(root);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1300, height: 900 } });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
      external.push(url);
      return route.abort();
    });
    page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('request', (r) => !/^(file|data):/.test(r.url()) && !external.includes(r.url()) && external.push(r.url()));
    const html = files.find((f) => f.endsWith('report.html'))!;
    await page.goto(pathToFileURL(html).href, { waitUntil: 'load' });
  });

  afterAll(async () => {
    await browser?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('loads nothing from the network and logs no error', () => {
    expect(external).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it('draws a train-loss, an accuracy and an F1 curve per finished run, each with a visible extent', async () => {
    const boxes = await page.locator('#curves path.curve').evaluateAll((paths) => paths.map((p) => (p as unknown as Graphic).getBBox()).map((b) => [b.width, b.height]));
    expect(boxes).toHaveLength(12 * 3);
    for (const [w, h] of boxes) {
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
    }
    const cards = await page.locator('#curves .card h3').allInnerTexts();
    expect(cards).toEqual(['vanilla, no dropout', 'mixup α=0.1, no dropout', 'mixup α=0.2, dropout 0.5', 'mixaugment α=0.1, dropout 0.5', 'mixaugment+flip α=0.1, no dropout']);
  });

  it('draws a heat-mapped, row-normalised confusion matrix per method with the summed counts', async () => {
    expect(await page.locator('#confusion svg.confusion').count()).toBe(4);
    expect(await page.locator('#confusion .cm-cell').count()).toBe(4 * 9);
    // vanilla, true fear: 2, 6, 2 per run, summed over 3 seeds.
    const fearRow = page.locator('#confusion svg.confusion').first().locator('.cm-cell[data-true="fear"]');
    expect(await fearRow.locator('.cm-share').allTextContents()).toEqual(['20%', '60%', '20%']);
    expect(await fearRow.locator('.cm-count').allTextContents()).toEqual(['6', '18', '6']);
    const fills = await fearRow.locator('rect').evaluateAll((rs) => rs.map((r) => (globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } }).getComputedStyle(r).fill));
    expect(new Set(fills).size).toBe(2); // 20% and 60% are shaded differently
    const box = await fearRow.first().boundingBox();
    expect(box!.width).toBeGreaterThan(0);
  });

  it('draws per-class F1 bars of vanilla and the compared method at their heights', async () => {
    const bars = await page.locator('#table5 rect.bar').evaluateAll((rs) =>
      rs.map((r) => [r.getAttribute('data-group'), r.getAttribute('data-series'), (r as unknown as Graphic).getBBox().height]),
    );
    expect(bars.map((b) => b.slice(0, 2))).toEqual([
      ['angry', 'vanilla'], ['angry', 'mixaugment+flip'], ['fear', 'vanilla'], ['fear', 'mixaugment+flip'], ['happy', 'vanilla'], ['happy', 'mixaugment+flip'],
    ]);
    const height = (group: string, series: string) => bars.find((b) => b[0] === group && b[1] === series)![2] as number;
    expect(height('fear', 'mixaugment+flip') / height('fear', 'vanilla')).toBeCloseTo(64 / 55, 2);
  });

  it('shows the mixed samples of one batch with their two largest soft-label weights', async () => {
    const gallery = page.locator('#gallery .gallery');
    expect(await gallery.count()).toBe(1);
    expect(await gallery.locator('.view-name').allInnerTexts()).toEqual([expect.stringMatching(/^real\s*weight 1$/), expect.stringMatching(/^mixed\s*weight 1$/)]);
    const sizes = await gallery.locator('img').evaluateAll((imgs) => imgs.map((i) => [(i as unknown as Img).naturalWidth, (i as unknown as Img).complete]));
    expect(sizes).toEqual([[4, true], [4, true], [4, true]]); // the PNGs decoded
    expect(await gallery.locator('figcaption').allInnerTexts()).toEqual(['angry 1.00', 'happy 1.00', 'fear 0.70\nhappy 0.30']);
  });

  it('the tables hold the runs\' numbers, the best rows marked', async () => {
    const rowsOf = (id: string) => page.locator(`table#${id} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())));
    expect(await rowsOf('table2')).toEqual([
      ['vanilla', '-', 'no', '3', '82.00 ± 2.00', '72.00 ± 2.65', '62.00 ± 3.46', ''],
      ['mixup', '0.1', 'no', '3', '84.00 ± 1.73', '74.00 ± 2.00', '66.00 ± 1.00', '★'],
      ['mixup', '0.2', '0.5', '2', '83.00 ± 2.83', '71.00 ± 1.41', '62.00 ± 1.41', ''],
    ]);
    expect(await page.locator('table#table2 tr.best td').first().textContent()).toBe('mixup');
    expect((await rowsOf('table6')).map((r) => [r[0], r[4], r[7]])).toEqual([
      ['vanilla', '82.00 ± 2.00', ''],
      ['mixup', '84.00 ± 1.73', ''],
      ['mixaugment', '85.00 ± –', ''],
      ['mixaugment+flip', '87.00 ± 1.00', '★'],
    ]);
    expect((await rowsOf('table4'))[0]).toEqual(['vanilla', '-', 'no', '3', '92.00', '96.00', '72.00', '75.00']);
    expect((await rowsOf('table5'))[1]).toEqual(['fear', '60.00', '60.00 =', '60.00', '60.00 =', '55.00', '64.00 ↑']);
    const unfinished = await page.locator('table#runs tr.unfinished').innerText();
    expect(unfinished).toContain(UNFINISHED_DIR);
    expect(unfinished).toContain('unfinished: no metrics.json');
    const summaryDots = await page.locator('#summary circle.dot').count();
    expect(summaryDots).toBe(3 * 4);
  });
});
