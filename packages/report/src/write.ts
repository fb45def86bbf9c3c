import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { collectRuns, type CollectOptions } from './collect.js';
import { renderCsvFiles } from './csv.js';
import { renderHtml } from './html/page.js';
import { renderMarkdown } from './markdown.js';
import { buildReport, type BuildReportOptions, type Report } from './tables.js';

export interface WrittenReport {
  report: Report;
  outDir: string;
  /** Absolute paths: report.md, report.html, then the CSV files. */
  files: string[];
}

/** Writes report.md, report.html and the CSV files of `report` into `outDir` (created if needed). */
export function writeReport(report: Report, outDir: string): WrittenReport {
  const dir = path.resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const outputs = [
    { name: 'report.md', text: renderMarkdown(report) },
    { name: 'report.html', text: renderHtml(report) },
    ...renderCsvFiles(report),
  ];
  for (const o of outputs) writeFileSync(path.join(dir, o.name), o.text);
  return { report, outDir: dir, files: outputs.map((o) => path.join(dir, o.name)) };
}

export interface ReportFolderOptions extends CollectOptions, BuildReportOptions {
  /** Default `<folder>/report`. */
  outDir?: string;
}

/** Collects the runs of a run or sweep folder, builds the tables and writes every output. */
export function reportFolder(folder: string, options: ReportFolderOptions = {}): WrittenReport {
  const collection = collectRuns(folder, options);
  const report = buildReport(collection, options);
  return writeReport(report, options.outDir ?? path.join(collection.root, 'report'));
}
