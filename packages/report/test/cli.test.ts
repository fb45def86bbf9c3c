import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSweepFixture, UNFINISHED_DIR } from './fixture.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const bin = path.join(root, 'packages/cli/src/bin.ts');
const tsx = path.join(root, 'node_modules/.bin/tsx');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The real `fermix` entry point from the sources, as a separate process. */
function fermix(args: string[], cwd: string) {
  const r = spawnSync(tsx, ['--conditions=fermix-source', bin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('fermix report', () => {
  it('writes report.md, report.html and the CSV files into <folder>/report and prints where, naming the unfinished run', () => {
    const sweep = makeSweepFixture();
    dirs.push(sweep);
    const r = fermix(['report', sweep], root);
    expect(r.code, r.stderr).toBe(0);
    const out = path.join(sweep, 'report');
    expect(r.stdout).toContain(`report written to ${out}:`);
    expect(r.stdout).toContain(`open ${path.join(out, 'report.html')} in a browser`);
    expect(r.stdout).toContain(`unfinished, left out: ${UNFINISHED_DIR} (no metrics.json`);
    expect(r.stdout).toContain('best (by mean accuracy): mixaugment+flip α=0.1, no dropout: accuracy 87.00 ± 1.00, macro F1 79.00 ± 1.73 (n=3)');
    for (const f of ['report.md', 'report.html', 'table2-mixup.csv', 'table3-mixaugment.csv', 'table4-confidence.csv', 'table5-per-class.csv', 'table6-summary.csv']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
      expect(r.stdout).toContain(`  ${f}\n`);
    }
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('| mixaugment+flip | 0.1 | no | 3 | **87.00 ± 1.00** | **79.00 ± 1.73** | **74.00 ± 2.00** | ★ |');
  });

  it('--out and --compare: the files go where asked and Table 5 compares with the named method', () => {
    const sweep = makeSweepFixture();
    dirs.push(sweep);
    const r = fermix(['report', sweep, '--out', 'elsewhere', '--compare', 'mixup'], sweep);
    expect(r.code, r.stderr).toBe(0);
    const table5 = readFileSync(path.join(sweep, 'elsewhere/table5-per-class.csv'), 'utf8');
    expect(table5.split('\n')[0]).toBe('class,vanilla_precision,mixup_precision,vanilla_recall,mixup_recall,vanilla_f1,mixup_f1');
    expect(existsSync(path.join(sweep, 'report'))).toBe(false);
    const bad = fermix(['report', sweep, '--compare', 'cutmix'], sweep);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('fermix: --compare cutmix: no finished runs of that method besides vanilla (methods found: mixup, mixaugment, mixaugment+flip)');
  });

  it('a folder without runs is a clear error naming the folder, with nothing written', () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'fermix-report-none-'));
    dirs.push(empty);
    mkdirSync(path.join(empty, 'notes'));
    const r = fermix(['report', empty], root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`fermix: ${empty}: no run folders found`);
    expect(r.stderr).not.toContain('    at '); // a message, not a stack trace
    expect(existsSync(path.join(empty, 'report'))).toBe(false);
  });
});
