/**
 * Deterministic randomness for workloads: the same seed gives the same request stream on every machine and run, so
 * two results differ because the system did, not the dice. (Math.random cannot be seeded.)
 */
export type Rng = () => number;

/** mulberry32: tiny, fast, 32-bit state; plenty for picking requests (not for cryptography). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A seed from a string or number (env vars, CLI flags), or a fresh one when none is given. */
export function seedFrom(value: string | number | undefined): number {
  if (value === undefined || value === "") return Math.floor(Math.random() * 2 ** 31);
  const n = Number(value);
  if (Number.isInteger(n)) return n >>> 0;
  let h = 2_166_136_261;
  for (const ch of String(value)) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 16_777_619);
  return h >>> 0;
}

/** Fisher–Yates with the given generator; returns a new array. */
export function shuffle<T>(items: readonly T[], rng: Rng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Zipf(s) over ranks 0..n-1 (rank 0 the most popular): P(k) ∝ (k+1)^-s, sampled by binary search in the
 * cumulative distribution (exact, O(log n) per draw).
 */
export class Zipf {
  readonly #cdf: Float64Array;
  /** P(rank) for each rank, normalised. */
  readonly probabilities: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
  ) {
    this.#cdf = new Float64Array(n);
    this.probabilities = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += (k + 1) ** -s;
      this.#cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) {
      this.#cdf[k] = (this.#cdf[k] ?? 0) / sum;
      this.probabilities[k] = (k + 1) ** -s / sum;
    }
  }

  sample(rng: Rng): number {
    const u = rng();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#cdf[mid] ?? 1) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
