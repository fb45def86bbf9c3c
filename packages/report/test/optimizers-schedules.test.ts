import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildReport, collectRuns, reportFolder } from '../src/index.js';
import { makeSweepFixture, RUNS } from './fixture.js';

/** The card of a configuration in the curves section, by its heading. */
function card(html: string, heading: string): string {
  const start = html.indexOf(`<h3>${heading}</h3>`, html.indexOf('id="curves"'));
  expect(start).toBeGreaterThan(0);
  return html.slice(start, html.indexOf('</div></div>', start));
}

describe('report of runs with optimizers and schedules', () => {
  it("draw each run's learning rate per epoch when metrics.json history has it, and no lr chart when it does not", () => {
    const root = makeSweepFixture();
    try {
      // The three vanilla seeds record a step schedule: 0.1, 0.1, 0.01.
      for (const run of RUNS.filter((r) => r.dir.startsWith('runs/vanilla'))) {
        const file = path.join(root, run.dir, 'metrics.json');
        const metrics = JSON.parse(readFileSync(file, 'utf8'));
        metrics.history = metrics.history.map((h: object, i: number) => ({ ...h, lr: i < 2 ? 0.1 : 0.01 }));
        writeFileSync(file, JSON.stringify(metrics));
      }
      const { files } = reportFolder(root);
      const html = readFileSync(files.find((f) => f.endsWith('report.html'))!, 'utf8');
      const vanilla = card(html, 'vanilla, no dropout');
      expect(vanilla).toContain('learning rate');
      const lrChart = vanilla.slice(vanilla.indexOf('>learning rate<'));
      expect(lrChart.match(/<path class="curve"/g)).toHaveLength(3);
      expect(lrChart).toContain('seed 1: learning rate');
      expect(card(html, 'mixup α=0.1, no dropout')).not.toContain('learning rate');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('runs that differ in optimizer or schedule become rows of their own, with optimizer and schedule columns', () => {
    const root = makeSweepFixture();
    try {
      // vanilla seed 3 trained with SGD and a cosine schedule instead of Adam, constant.
      const file = path.join(root, 'runs/vanilla-s3/config.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('    name: adam\n', '    name: sgd\n'));
      writeFileSync(file, readFileSync(file, 'utf8').replace('    lr: 0.001\n', '    lr: 0.001\n  schedule: { name: cosine }\n'));
      const report = buildReport(collectRuns(root));
      expect(report.extraKeys).toEqual(['optimizer', 'schedule']);
      const vanilla = report.table2.rows.filter((r) => r.method === 'vanilla').map((r) => [r.optimizer, r.schedule, r.seeds]);
      expect(vanilla).toEqual([
        ['adam', 'constant', [1, 2]],
        ['sgd', 'cosine', [3]],
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
