import type { RunMetrics } from '@fermix/core';
import type { SamplesFile } from './samples.js';

/** The settings a report groups runs by, read from a run's config.yaml. */
export interface RunSettings {
  /**
   * The non-dropout plugins joined by '+', the mixing plugin (mixup, mixaugment) first and the rest
   * in config order, e.g. `mixaugment+flip`; `vanilla` when there is none.
   */
  method: string;
  /** The plugin names as the config lists them (short names; dropout included). */
  plugins: string[];
  /** The mixup/mixaugment alpha; null for methods without one. */
  alpha: number | null;
  /** The dropout plugin's rate; null without dropout. */
  dropout: number | null;
  seed: number;
  backbone: string;
  lr: number;
  /** train.optimizer.name and train.schedule.name (adam and constant in configs older than them). */
  optimizer: string;
  schedule: string;
}

/** A run folder with its metrics.json. */
export interface FinishedRun {
  dir: string;
  /** The folder relative to the report's root ('.' for the root itself). */
  name: string;
  settings: RunSettings;
  metrics: RunMetrics;
  /** samples.json, when the run has a readable one. */
  samples?: SamplesFile;
}

/** A run folder the report cannot use: no metrics.json yet, or an unreadable file. */
export interface UnfinishedRun {
  dir: string;
  name: string;
  /** Known when config.yaml could be read. */
  settings?: RunSettings;
  reason: string;
}

export interface RunCollection {
  root: string;
  runs: FinishedRun[];
  unfinished: UnfinishedRun[];
  /** Things a reader should know (e.g. a samples.json that could not be read). */
  notes: string[];
}
