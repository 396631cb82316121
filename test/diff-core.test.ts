import { describe, expect, it } from 'vitest';
import { matchFilters, permuteAxis } from '../pipeline/diff/match-filters.js';
import { parseRule, ruleHolds } from '../pipeline/diff/rules.js';
import { UsageError } from '../pipeline/core/errors.js';
import { permutation } from '../pipeline/data/split.js';
import seedrandom from 'seedrandom';

function randomKernel(shape: number[], seed: string): Float32Array {
  const rng = seedrandom.alea(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

describe('filter matching', () => {
  it('recovers a known random permutation of the filters exactly', () => {
    for (const [shape, seed] of [[[3, 3, 1, 32], 1], [[3, 3, 32, 64], 2]] as const) {
      const a = randomKernel([...shape], `k${seed}`);
      const perm = Array.from(permutation(shape[3], seed));
      // B holds A's filter perm[i] at position i... so B's filter j is A's filter perm[j].
      const b = permuteAxis(a, [...shape], -1, perm);
      const m = matchFilters(a, b, [...shape]);
      const inverse = new Array<number>(perm.length);
      perm.forEach((src, dst) => (inverse[src] = dst));
      expect(m.perm).toEqual(inverse);
      for (const s of m.similarity) expect(s).toBeCloseTo(1, 6);
      // Putting B back in A's order gives A exactly.
      expect(Array.from(permuteAxis(b, [...shape], -1, m.perm))).toEqual(Array.from(a));
    }
  });

  it('matches identical kernels as the identity with similarity 1', () => {
    const a = randomKernel([3, 3, 1, 32], 'same');
    const m = matchFilters(a, a.slice(), [3, 3, 1, 32]);
    expect(m.perm).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(m.similarity.every((s) => Math.abs(s - 1) < 1e-12)).toBe(true);
  });

  it('still finds the permutation under noise, with similarities below 1', () => {
    const shape = [3, 3, 32, 64];
    const a = randomKernel(shape, 'noisy');
    const perm = Array.from(permutation(64, 9));
    const noise = randomKernel(shape, 'noise');
    const b = permuteAxis(a, shape, -1, perm).map((v, i) => v + 0.2 * noise[i]);
    const m = matchFilters(a, b, shape);
    perm.forEach((src, dst) => expect(m.perm[src]).toBe(dst));
    for (const s of m.similarity) {
      expect(s).toBeLessThan(1);
      expect(s).toBeGreaterThan(0.9);
    }
  });

  it('permutes the input-channel axis', () => {
    // shape [1, 1, 2, 3]: in=2, out=3; data[(i)*3 + k]
    const data = Float32Array.from([0, 1, 2, 10, 11, 12]);
    expect(Array.from(permuteAxis(data, [1, 1, 2, 3], -2, [1, 0]))).toEqual([10, 11, 12, 0, 1, 2]);
    expect(Array.from(permuteAxis(data, [1, 1, 2, 3], -1, [2, 0, 1]))).toEqual([2, 0, 1, 12, 10, 11]);
  });
});

describe('--fail-on rules', () => {
  const metrics = ['test.accuracy', 'val.loss'];
  it('parses and evaluates rules on deltas', () => {
    const r = parseRule('test.accuracy < -0.01', metrics);
    expect(r).toEqual({ text: 'test.accuracy < -0.01', metric: 'test.accuracy', op: '<', value: -0.01 });
    expect(ruleHolds(r, -0.02)).toBe(true);
    expect(ruleHolds(r, -0.01)).toBe(false);
    expect(ruleHolds(parseRule('val.loss>=0', metrics), 0)).toBe(true);
    expect(ruleHolds(parseRule('val.loss != 0', metrics), 0)).toBe(false);
    expect(parseRule('val.loss > 1e-3', metrics).value).toBe(0.001);
  });
  it.each([
    ['test.accuracy', /is not a rule/],
    ['test.accuracy << 1', /is not a rule/],
    ['test.acc < 1', /unknown metric "test.acc"; known: test.accuracy, val.loss/],
    ['test.accuracy < abc', /is not a rule/],
  ])('rejects %j', (text, message) => {
    expect(() => parseRule(text, metrics)).toThrow(UsageError);
    expect(() => parseRule(text, metrics)).toThrow(message);
  });
});
