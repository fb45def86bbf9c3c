/**
 * Shared by the property-based (fast-check) tests of hostile input: configs, images, label files.
 *
 * Every fuzz test runs from a fixed seed, printed with the command that replays it; set
 * FERMIX_FUZZ_SEED to run another seed (a failure prints fast-check's own seed and path too).
 * FERMIX_FUZZ_RUNS multiplies the number of cases (e.g. 10 for a long local run).
 */
import fc from 'fast-check';

/** The seed of every fuzz test in a CI run: fixed, so CI is repeatable; rotated only when asked. */
export const DEFAULT_FUZZ_SEED = 1612;

export function fuzzSeed(what: string): number {
  const fromEnv = process.env.FERMIX_FUZZ_SEED;
  const seed = fromEnv === undefined || fromEnv === '' ? DEFAULT_FUZZ_SEED : Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`FERMIX_FUZZ_SEED must be an integer, got "${fromEnv}"`);
  console.log(`fuzz ${what}: seed ${seed} (replay: FERMIX_FUZZ_SEED=${seed} pnpm vitest run <this file>)`);
  return seed;
}

/** `n` cases, times FERMIX_FUZZ_RUNS when set. */
export function fuzzRuns(n: number): number {
  const factor = Number(process.env.FERMIX_FUZZ_RUNS ?? 1);
  return Math.max(1, Math.round(n * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}

/** Runs a property with the seed, and returns how many cases ran and how long they took. */
export function checkProperty<T>(what: string, arb: fc.Arbitrary<T>, predicate: (value: T) => void, runs: number, seed = fuzzSeed(what)): { cases: number; seconds: number } {
  const started = performance.now();
  let cases = 0;
  fc.assert(
    fc.property(arb, (value) => {
      cases++;
      predicate(value);
    }),
    { seed, numRuns: fuzzRuns(runs), verbose: 1 },
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`fuzz ${what}: ${cases} cases in ${seconds.toFixed(1)} s`);
  return { cases, seconds };
}

/** The same for an async property. */
export async function checkAsyncProperty<T>(what: string, arb: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, runs: number, seed = fuzzSeed(what)): Promise<{ cases: number; seconds: number }> {
  const started = performance.now();
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      cases++;
      await predicate(value);
    }),
    { seed, numRuns: fuzzRuns(runs), verbose: 1 },
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(`fuzz ${what}: ${cases} cases in ${seconds.toFixed(1)} s`);
  return { cases, seconds };
}

/** Numbers that break naive code: NaN, infinities, -0, the edges of doubles and of safe integers. */
export const extremeNumber: fc.Arbitrary<number> = fc.constantFrom(
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  -1,
  0.5,
  1e-320,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  2 ** 31,
  2 ** 32 + 1,
  1e21,
  -(2 ** 53),
);

/** Strings that break naive code: empty, huge, control characters, NUL, path tricks, YAML-looking text. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '\0', 'a\0b', '../../etc/passwd', '/etc/passwd', 'C:\\Windows', '~', '.nan', '-.inf', 'null', 'true', '0x10', '1e309', '{a: 1}', '[1, 2'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.nat({ max: 200_000 }).map((n) => 'x'.repeat(n)),
);
