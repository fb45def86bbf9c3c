import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backendLabel } from '../src/format.js';
import { buildReport, collectRuns, meanStd, renderMarkdown, ReportError, writeReport, type AblationRow, type Report } from '../src/index.js';
import { addRun, makeSweepFixture, UNFINISHED_DIR } from './fixture.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function fixture(): string {
  const root = makeSweepFixture();
  dirs.push(root);
  return root;
}

/** A row as the tables print it: key cells, n, then accuracy, macro F1 and average accuracy as mean ± std. */
const shown = (r: AblationRow) => [r.method, r.alpha, r.dropout, r.runs.length, meanStd(r.accuracy), meanStd(r.macroF1), meanStd(r.averageAccuracy)];

describe('backendLabel', () => {
  it('names the backend and the device; tfjs-node-gpu\'s CPU fallback is marked; older runs show the backend alone', () => {
    expect(backendLabel({ backend: 'tensorflow', device: 'GPU' })).toBe('tensorflow on GPU');
    expect(backendLabel({ backend: 'tensorflow', device: 'CPU', deviceReason: 'no usable CUDA device: ...' })).toBe('tensorflow on CPU (no CUDA device)');
    expect(backendLabel({ backend: 'wasm' })).toBe('wasm');
    expect(backendLabel({})).toBe('–');
  });
});

describe('collectRuns', () => {
  it('finds the run folders of a sweep (children and grandchildren), lists the one without metrics.json as unfinished', () => {
    const root = fixture();
    const c = collectRuns(root);
    expect(c.runs).toHaveLength(12);
    expect(c.unfinished.map((u) => u.name)).toEqual([UNFINISHED_DIR]);
    expect(c.unfinished[0].reason).toContain('no metrics.json');
    expect(c.unfinished[0].settings).toMatchObject({ method: 'mixup', alpha: 0.2, dropout: 0.5, seed: 3 });
    expect(c.runs.map((r) => r.name)).toContain('extra-mixaugment');
  });

  it('derives method, alpha, dropout and seed from each config.yaml: bare names take the plugin defaults, flip before mixaugment is mixaugment+flip', () => {
    const c = collectRuns(fixture());
    const byName = (name: string) => c.runs.find((r) => r.name === name)!.settings;
    expect(byName('extra-mixaugment')).toEqual({ method: 'mixaugment', plugins: ['mixaugment', 'dropout'], alpha: 0.1, dropout: 0.5, seed: 1, backbone: 'small-cnn', lr: 0.001, optimizer: 'adam', schedule: 'constant' });
    expect(byName('runs/mixaugment-flip-s2')).toMatchObject({ method: 'mixaugment+flip', plugins: ['flip', 'mixaugment'], alpha: 0.1, dropout: null, seed: 2 });
    expect(byName('runs/vanilla-s3')).toMatchObject({ method: 'vanilla', alpha: null, dropout: null, seed: 3 });
    expect(byName('runs/mixup-a0.2-d0.5-s1')).toMatchObject({ method: 'mixup', alpha: 0.2, dropout: 0.5 });
  });

  it('reads a single run folder as a report of one run', () => {
    const root = fixture();
    const c = collectRuns(path.join(root, 'runs/vanilla-s2'));
    expect(c.runs.map((r) => [r.name, r.metrics.accuracy])).toEqual([['.', 0.82]]);
  });

  it('a damaged metrics.json or samples.json is reported, not fatal', () => {
    const root = fixture();
    writeFileSync(path.join(root, 'runs/vanilla-s3/metrics.json'), '{"accuracy": 0.8');
    writeFileSync(path.join(root, 'runs/mixup-a0.1-s1/samples.json'), JSON.stringify({ version: 2 }));
    const c = collectRuns(root);
    expect(c.unfinished.find((u) => u.name === 'runs/vanilla-s3')?.reason).toMatch(/^metrics\.json unreadable/);
    expect(c.notes).toEqual([`${path.join(root, 'runs/mixup-a0.1-s1/samples.json')}: not shown (expected "version": 1, found 2)`]);
  });

  it('a folder with no runs, or no folder at all, is an error naming the folder', () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'fermix-report-empty-'));
    dirs.push(empty);
    mkdirSync(path.join(empty, 'runs/nothing-here'), { recursive: true });
    expect(() => collectRuns(empty)).toThrow(ReportError);
    expect(() => collectRuns(empty)).toThrow(`${empty}: no run folders found`);
    expect(() => collectRuns(path.join(empty, 'missing'))).toThrow(`${path.join(empty, 'missing')}: no such folder`);
    // Only unfinished runs: nothing to tabulate.
    writeFileSync(path.join(empty, 'runs/nothing-here/config.yaml'), 'seed: 4\nplugins: []\n');
    const c = collectRuns(empty);
    expect(c.unfinished).toHaveLength(1);
    expect(() => buildReport(c)).toThrow(`${empty}: no finished run`);
  });
});

describe('buildReport: the numbers are the runs\' metrics.json, mean ± sample std over seeds', () => {
  const report: Report = buildReport(collectRuns(fixture()));

  it('Table 2: vanilla and mixup rows, std with n - 1, the best accuracy marked', () => {
    expect(report.table2.rows.map(shown)).toEqual([
      ['vanilla', null, null, 3, '82.00 ± 2.00', '72.00 ± 2.65', '62.00 ± 3.46'],
      ['mixup', 0.1, null, 3, '84.00 ± 1.73', '74.00 ± 2.00', '66.00 ± 1.00'],
      ['mixup', 0.2, 0.5, 2, '83.00 ± 2.83', '71.00 ± 1.41', '62.00 ± 1.41'],
    ]);
    const vanilla = report.table2.rows[0];
    expect(vanilla.accuracy.mean).toBeCloseTo(0.82, 12);
    expect(vanilla.accuracy.std).toBeCloseTo(0.02, 12);
    expect(vanilla.macroF1.std).toBeCloseTo(0.0264575131, 9); // sqrt(7) points: deviations -2, -1, 3
    expect(vanilla.averageAccuracy.std).toBeCloseTo(0.0346410162, 9); // sqrt(12) points
    expect(report.table2.rows[2].accuracy.std).toBeCloseTo(0.0282842712, 9); // two seeds, 81 and 85: sqrt(8)
    expect(vanilla.seeds).toEqual([1, 2, 3]);
    expect(shown(report.table2.best!)).toEqual(shown(report.table2.rows[1]));
  });

  it('Table 3: vanilla, mixaugment (one seed: no std) and mixaugment+flip; the best is mixaugment+flip', () => {
    expect(report.table3.rows.map(shown)).toEqual([
      ['vanilla', null, null, 3, '82.00 ± 2.00', '72.00 ± 2.65', '62.00 ± 3.46'],
      ['mixaugment', 0.1, 0.5, 1, '85.00 ± –', '77.00 ± –', '70.00 ± –'],
      ['mixaugment+flip', 0.1, null, 3, '87.00 ± 1.00', '79.00 ± 1.73', '74.00 ± 2.00'],
    ]);
    expect(report.table3.rows[1].accuracy.std).toBeNull();
    expect(report.table3.best?.method).toBe('mixaugment+flip');
    expect(report.ablation.rows).toHaveLength(5);
    expect(report.ablation.best?.method).toBe('mixaugment+flip');
  });

  it('Table 4: confidence means over seeds; a run without wrong predictions is left out of the wrong columns', () => {
    const t4 = report.table4.map((c) => [c.method, c.correct.mean, c.correct.median, c.wrong.mean, c.wrong.median].map((v) => (typeof v === 'number' ? +v.toFixed(6) : v)));
    expect(t4).toEqual([
      ['vanilla', 0.92, 0.96, 0.72, 0.75],
      ['mixup', 0.9, 0.95, 0.7, 0.75],
      ['mixaugment', 0.9, 0.95, 0.7, 0.75],
      ['mixaugment+flip', 0.98, 1, 0.61, 0.66],
    ]);
    expect(report.table4[3].wrong.count).toBe(8);
  });

  it('Table 5: per class, vanilla against the best non-vanilla method by default', () => {
    const t5 = report.table5!;
    expect(t5.compared.method).toBe('mixaugment+flip');
    const fear = t5.classes.find((c) => c.name === 'fear')!;
    expect(fear.vanilla.f1).toBeCloseTo(0.55, 12);
    expect(fear.compared.f1).toBeCloseTo(0.64, 12);
    expect(t5.classes.find((c) => c.name === 'angry')!.compared.precision).toBeCloseTo(0.78, 12);
    const md = renderMarkdown(report);
    expect(md).toContain('| fear | 60.00 | 60.00 = | 60.00 | 60.00 = | 55.00 | 64.00 ↑ |');
    expect(md).toContain('| angry | 80.00 | 78.00 ↓ | 80.00 | 80.00 = | 80.00 | 80.00 = |');
  });

  it('Table 5 with --compare: a method named in either plugin order; an unknown method is an error listing those found', () => {
    const c = collectRuns(fixture());
    expect(buildReport(c, { compare: 'mixup' }).table5!.compared.id).toBe('mixup|0.1|no|small-cnn|0.001|adam|constant');
    expect(buildReport(c, { compare: 'flip+mixaugment' }).table5!.compared.method).toBe('mixaugment+flip');
    expect(() => buildReport(c, { compare: 'cutmix' })).toThrow('--compare cutmix: no finished runs of that method besides vanilla (methods found: mixup, mixaugment, mixaugment+flip)');
  });

  it('Table 6: each method\'s best row (mixup: alpha 0.1 beats 0.2 + dropout), the overall best marked', () => {
    expect(report.table6.rows.map(shown)).toEqual([
      ['vanilla', null, null, 3, '82.00 ± 2.00', '72.00 ± 2.65', '62.00 ± 3.46'],
      ['mixup', 0.1, null, 3, '84.00 ± 1.73', '74.00 ± 2.00', '66.00 ± 1.00'],
      ['mixaugment', 0.1, 0.5, 1, '85.00 ± –', '77.00 ± –', '70.00 ± –'],
      ['mixaugment+flip', 0.1, null, 3, '87.00 ± 1.00', '79.00 ± 1.73', '74.00 ± 2.00'],
    ]);
    expect(report.table6.best?.method).toBe('mixaugment+flip');
  });

  it('Markdown: the best row in bold with a star, single seeds with –, the unfinished run listed', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('| mixup | 0.1 | no | 3 | **84.00 ± 1.73** | **74.00 ± 2.00** | **66.00 ± 1.00** | ★ |');
    expect(md).toContain('| mixup | 0.2 | 0.5 | 2 | 83.00 ± 2.83 | 71.00 ± 1.41 | 62.00 ± 1.41 |  |');
    expect(md).toContain('| mixaugment | 0.1 | 0.5 | 1 | 85.00 ± – | 77.00 ± – | 70.00 ± – |  |');
    expect(md).toContain('| mixaugment+flip | 0.1 | no | 3 | 98.00 | 100.00 | 61.00 | 66.00 |');
    expect(md).toContain(`| ${UNFINISHED_DIR} | no metrics.json (still running, interrupted or failed) |`);
    expect(md).toContain('12 finished runs in 5 configurations, 1 unfinished');
    // The runs table says where each run trained.
    expect(md).toContain('| best epoch | backend |');
    expect(md).toMatch(/\| 3 \| wasm on CPU \|\n/);
  });
});

describe('writeReport', () => {
  it('writes report.md, report.html and one CSV per table with the runs\' figures in percent', () => {
    const root = fixture();
    const out = path.join(root, 'out');
    const written = writeReport(buildReport(collectRuns(root)), out);
    expect(written.files.map((f) => path.relative(out, f))).toEqual([
      'report.md', 'report.html', 'table2-mixup.csv', 'table3-mixaugment.csv', 'ablation.csv', 'table4-confidence.csv', 'table5-per-class.csv', 'table6-summary.csv', 'runs.csv',
    ]);
    const csv = (name: string) => readFileSync(path.join(out, name), 'utf8');
    const header = 'method,alpha,dropout,backbone,lr,optimizer,schedule,n,seeds,accuracy_mean,accuracy_std,macro_f1_mean,macro_f1_std,average_accuracy_mean,average_accuracy_std,best';
    expect(csv('table2-mixup.csv')).toBe(
      `${header}\n` +
        'vanilla,,no,small-cnn,0.001,adam,constant,3,1 2 3,82,2,72,2.6458,62,3.4641,false\n' +
        'mixup,0.1,no,small-cnn,0.001,adam,constant,3,1 2 3,84,1.7321,74,2,66,1,true\n' +
        'mixup,0.2,0.5,small-cnn,0.001,adam,constant,2,1 2,83,2.8284,71,1.4142,62,1.4142,false\n',
    );
    expect(csv('table6-summary.csv').split('\n').slice(3, 5)).toEqual([
      'mixaugment,0.1,0.5,small-cnn,0.001,adam,constant,1,1,85,,77,,70,,false',
      'mixaugment+flip,0.1,no,small-cnn,0.001,adam,constant,3,1 2 3,87,1,79,1.7321,74,2,true',
    ]);
    expect(csv('table4-confidence.csv').split('\n')[4]).toBe('mixaugment+flip,0.1,no,3,98,100,82,61,66,8');
    expect(csv('table5-per-class.csv')).toBe(
      'class,vanilla_precision,mixaugment+flip_precision,vanilla_recall,mixaugment+flip_recall,vanilla_f1,mixaugment+flip_f1\n' +
        'angry,80,78,80,80,80,80\nfear,60,60,60,60,55,64\nhappy,90,90,90,90,90,90\n',
    );
    const runs = csv('runs.csv').trim().split('\n');
    expect(runs).toHaveLength(14);
    expect(runs[1]).toBe('runs/vanilla-s1,finished,vanilla,,no,1,small-cnn,0.001,adam,constant,80,70,60,2,3,6,');
    expect(runs[13]).toBe(`${UNFINISHED_DIR},unfinished,mixup,0.2,0.5,3,small-cnn,0.001,adam,constant,,,,,,,"no metrics.json (still running, interrupted or failed)"`);
  });

  it('runs whose plugins differ in an option other than alpha (mixaugment with mix: cutmix) become rows of their own; an option written at its default does not split a row', () => {
    const root = fixture();
    addRun(root, 'runs/mixaugment-cutmix-s1', { seed: 1, plugins: '\n  - mixaugment: { mix: cutmix, alpha: 1 }', acc: 0.6, f1: 0.5, avg: 0.4 });
    addRun(root, 'runs/mixaugment-cutmix-s2', { seed: 2, plugins: '\n  - mixaugment: { mix: cutmix, alpha: 1, forward: separate }', acc: 0.62, f1: 0.5, avg: 0.4 });
    addRun(root, 'runs/mixaugment-joint-s1', { seed: 1, plugins: '\n  - mixaugment: { forward: joint }', acc: 0.7, f1: 0.6, avg: 0.5 });
    addRun(root, 'runs/mixaugment-explicit-s9', { seed: 9, plugins: '\n  - mixaugment: { mix: mixup, alpha: 0.1 }\n  - dropout', acc: 0.85, f1: 0.77, avg: 0.7 });
    const report = buildReport(collectRuns(root));
    const rows = report.ablation.rows.map((r) => [r.method, r.alpha, r.dropout, r.runs.length]);
    expect(rows).toContainEqual(['mixaugment(mix=cutmix)', 1, null, 2]);
    expect(rows).toContainEqual(['mixaugment(forward=joint)', 0.1, null, 1]);
    // `mix: mixup, alpha: 0.1` is the default: the same row as `- mixaugment` with dropout (extra-mixaugment).
    expect(rows).toContainEqual(['mixaugment', 0.1, 0.5, 2]);
    // The paper's Table 3 keeps only MixAugment with mixup.
    expect(report.table3.rows.map((r) => r.method)).not.toContain('mixaugment(mix=cutmix)');
    expect(renderMarkdown(report)).toContain('mixaugment(mix=cutmix)');
  });

  it('runs of another backbone become rows of their own with a backbone column', () => {
    const root = fixture();
    addRun(root, 'runs/vanilla-resnet18-s1', { seed: 1, plugins: ' []', acc: 0.9, f1: 0.8, avg: 0.7, backbone: 'resnet18' });
    const report = buildReport(collectRuns(root));
    expect(report.extraKeys).toEqual(['backbone']);
    expect(report.table2.rows.map((r) => [r.method, r.backbone, r.runs.length])).toEqual([
      ['vanilla', 'resnet18', 1],
      ['vanilla', 'small-cnn', 3],
      ['mixup', 'small-cnn', 3],
      ['mixup', 'small-cnn', 2],
    ]);
    expect(renderMarkdown(report)).toContain('| method | alpha | dropout | backbone | n | accuracy | macro F1 | avg. accuracy | best |');
    expect(report.table6.rows[0].backbone).toBe('resnet18'); // vanilla's best row: 90.00
  });
});
