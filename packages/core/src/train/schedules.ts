/**
 * Learning-rate schedules, evaluated per optimisation step.
 *
 * The rule: each schedule's lr at step t is what the PyTorch scheduler of the same name gives after
 * t calls of `scheduler.step()` made once per optimisation step (constant, MultiStepLR,
 * LinearLR warmup then CosineAnnealingLR in a SequentialLR, OneCycleLR without momentum cycling,
 * ExponentialLR), with lengths in epochs turned into steps by `stepsPerEpoch`. `plateau` is
 * ReduceLROnPlateau, told the monitored metric after each evaluation. test/schedules.test.ts
 * checks every one against lrs recorded from PyTorch (scripts/torch-reference.py).
 *
 * The fixed schedules are pure functions of the step, so resuming needs only the step count;
 * plateau's state (best value, bad epochs, cooldown, lr) goes into the checkpoint.
 */

export type ScheduleName = 'constant' | 'step' | 'cosine' | 'onecycle' | 'exponential' | 'plateau';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'onecycle', 'exponential', 'plateau'];

/** What a schedule needs to know about the run. */
export interface ScheduleRun {
  /** The optimizer's base lr (onecycle: its peak). */
  lr: number;
  stepsPerEpoch: number;
  epochs: number;
}

export interface ScheduleSettings {
  name: ScheduleName;
  /** step: epochs at which lr is multiplied by gamma. */
  milestones?: number[];
  /** step: factor at each milestone (default 0.1); exponential: factor per epoch (default 0.95). */
  gamma?: number;
  /** cosine: linear warmup length in epochs (may be fractional) ... */
  warmupEpochs?: number;
  /** ... or in steps. */
  warmupSteps?: number;
  /** cosine: the warmup starts at lr * warmupStartFactor (PyTorch LinearLR's start_factor). Default 0.01. */
  warmupStartFactor?: number;
  /** cosine and plateau: the lowest lr. Default 0. */
  minLr?: number;
  /** onecycle: share of the run spent rising (default 0.3). */
  pctStart?: number;
  /** onecycle: the start lr is lr / divFactor (default 25)... */
  divFactor?: number;
  /** ...and the final lr is the start lr / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** plateau: the metric watched, and whether higher is better. */
  mode?: 'min' | 'max';
  /** plateau: evaluations without improvement before lr is cut (default 10). */
  patience?: number;
  /** plateau: lr is multiplied by this (default 0.1). */
  factor?: number;
  /** plateau: relative improvement that counts (default 1e-4). */
  threshold?: number;
  /** plateau: evaluations to wait after a cut before counting again (default 0). */
  cooldown?: number;
}

export interface PlateauState {
  lr: number;
  best: number | null;
  badEpochs: number;
  cooldownLeft: number;
  reductions: number;
}

export interface LrSchedule {
  readonly name: ScheduleName;
  /** The lr of global step `step` (0-based). */
  lrAt(step: number): number;
  /** plateau: told the monitored value after each evaluation; true when it cut the lr. */
  observe?(value: number): boolean;
  /** plateau: the state a checkpoint keeps. */
  getState?(): PlateauState;
  setState?(state: PlateauState): void;
}

/** MultiStepLR: lr * gamma^(milestones passed); milestones in steps. */
export function stepDecayLr(step: number, lr: number, milestones: number[], gamma: number): number {
  return lr * gamma ** milestones.filter((m) => m <= step).length;
}

/** ExponentialLR at a fractional number of decays: lr * gamma^decays. */
export function exponentialLr(decays: number, lr: number, gamma: number): number {
  return lr * gamma ** decays;
}

/**
 * LinearLR(start_factor, total_iters = warmup) then CosineAnnealingLR(T_max = total - warmup,
 * eta_min = minLr) from the end of warmup; all lengths in steps.
 */
export function cosineLr(step: number, lr: number, o: { total: number; warmup: number; warmupStartFactor: number; minLr: number }): number {
  if (step < o.warmup) return lr * (o.warmupStartFactor + ((1 - o.warmupStartFactor) * step) / o.warmup);
  const span = o.total - o.warmup;
  const t = Math.min(step - o.warmup, span);
  return o.minLr + ((lr - o.minLr) * (1 + Math.cos((Math.PI * t) / span))) / 2;
}

/** OneCycleLR (two phases, cosine annealing), lr as its peak; lengths in steps. */
export function oneCycleLr(step: number, maxLr: number, o: { total: number; pctStart: number; divFactor: number; finalDivFactor: number }): number {
  const initial = maxLr / o.divFactor;
  const final = initial / o.finalDivFactor;
  const anneal = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  const peakStep = o.pctStart * o.total - 1;
  if (step <= peakStep) return anneal(initial, maxLr, step / peakStep);
  return anneal(maxLr, final, Math.min(1, (step - peakStep) / (o.total - 1 - peakStep)));
}

/** Warmup length in steps from either setting. */
export function warmupStepsOf(settings: Pick<ScheduleSettings, 'warmupEpochs' | 'warmupSteps'>, stepsPerEpoch: number): number {
  if (settings.warmupSteps !== undefined) return settings.warmupSteps;
  return Math.round((settings.warmupEpochs ?? 0) * stepsPerEpoch);
}

/** ReduceLROnPlateau: cuts lr by `factor` after more than `patience` evaluations without a relative improvement of `threshold`. */
function plateauSchedule(run: ScheduleRun, s: ScheduleSettings): LrSchedule {
  const mode = s.mode ?? 'min';
  const patience = s.patience ?? 10;
  const factor = s.factor ?? 0.1;
  const threshold = s.threshold ?? 1e-4;
  const cooldown = s.cooldown ?? 0;
  const minLr = s.minLr ?? 0;
  let state: PlateauState = { lr: run.lr, best: null, badEpochs: 0, cooldownLeft: 0, reductions: 0 };
  const isBetter = (value: number, best: number | null) => best === null || (mode === 'min' ? value < best * (1 - threshold) : value > best * (1 + threshold));
  return {
    name: 'plateau',
    lrAt: () => state.lr,
    observe(value) {
      if (isBetter(value, state.best)) {
        state.best = value;
        state.badEpochs = 0;
      } else {
        state.badEpochs++;
      }
      if (state.cooldownLeft > 0) {
        state.cooldownLeft--;
        state.badEpochs = 0;
      }
      if (state.badEpochs > patience) {
        const next = Math.max(state.lr * factor, minLr);
        state.cooldownLeft = cooldown;
        state.badEpochs = 0;
        // PyTorch ignores cuts smaller than its eps (1e-8).
        if (state.lr - next > 1e-8) {
          state.lr = next;
          state.reductions++;
          return true;
        }
      }
      return false;
    },
    getState: () => ({ ...state }),
    setState(next) {
      state = { ...next };
    },
  };
}

/** The schedule a config names, for a run of `run.epochs` epochs of `run.stepsPerEpoch` steps. */
export function createSchedule(settings: ScheduleSettings, run: ScheduleRun): LrSchedule {
  const spe = run.stepsPerEpoch;
  const total = run.epochs * spe;
  switch (settings.name) {
    case 'constant':
      return { name: 'constant', lrAt: () => run.lr };
    case 'step': {
      const milestones = (settings.milestones ?? []).map((m) => Math.round(m * spe));
      const gamma = settings.gamma ?? 0.1;
      return { name: 'step', lrAt: (t) => stepDecayLr(t, run.lr, milestones, gamma) };
    }
    case 'exponential': {
      const gamma = settings.gamma ?? 0.95;
      return { name: 'exponential', lrAt: (t) => exponentialLr(t / spe, run.lr, gamma) };
    }
    case 'cosine': {
      const o = { total, warmup: warmupStepsOf(settings, spe), warmupStartFactor: settings.warmupStartFactor ?? 0.01, minLr: settings.minLr ?? 0 };
      if (o.warmup >= total) throw new Error(`cosine: a warmup of ${o.warmup} steps leaves nothing of a run of ${total} steps`);
      return { name: 'cosine', lrAt: (t) => cosineLr(t, run.lr, o) };
    }
    case 'onecycle': {
      const o = { total, pctStart: settings.pctStart ?? 0.3, divFactor: settings.divFactor ?? 25, finalDivFactor: settings.finalDivFactor ?? 1e4 };
      return { name: 'onecycle', lrAt: (t) => oneCycleLr(t, run.lr, o) };
    }
    case 'plateau':
      return plateauSchedule(run, settings);
    default:
      throw new Error(`unknown schedule "${(settings as { name: string }).name}" (one of ${SCHEDULE_NAMES.join(', ')})`);
  }
}
