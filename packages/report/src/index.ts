export type { FinishedRun, RunCollection, RunSettings, UnfinishedRun } from './types.js';
export { ReportError } from './errors.js';
export { findRunFolders } from './discover.js';
export { collectRuns, type CollectOptions } from './collect.js';
export { methodName, methodPart, pluginEntry, runSettings, shortPluginName, PLUGIN_DEFAULTS, type PluginDefaults } from './settings.js';
export { drawnSummary, parseSamples, topClasses, type SamplesFile } from './samples.js';
export { mean, sampleStd, summarize, type MetricSummary } from './stats.js';
export { bestRow, bestRowPerMethod, compareMethods, extraKeys, groupRows, PAPER_METHODS, type AblationRow, type ExtraKey } from './rows.js';
export {
  buildReport,
  type AblationTable,
  type BuildReportOptions,
  type ClassScores,
  type ConfidenceRow,
  type PerClassComparison,
  type Report,
} from './tables.js';
export { arrow, meanStd, pct, plural, rowLabel } from './format.js';
export { renderMarkdown } from './markdown.js';
export { renderCsvFiles, toCsv, type CsvFile } from './csv.js';
export { renderHtml } from './html/page.js';
export { summedConfusion } from './html/confusion.js';
export { reportFolder, writeReport, type ReportFolderOptions, type WrittenReport } from './write.js';
