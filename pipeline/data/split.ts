/**
 * The seeded pieces of a run that more than one step must agree on: the train/validation split,
 * each epoch's shuffle, each step's dropout seed.
 */
import seedrandom from 'seedrandom';
import { PIXELS } from '../catalog/dataset.js';
import { sha256 } from '../core/hash.js';

/** A seed derived from a run seed and labels, e.g. derivedSeed(42, 'dropout', epoch, step). */
export function derivedSeed(seed: number, ...parts: (string | number)[]): number {
  return parseInt(sha256([seed, ...parts].join('/')).slice(0, 8), 16);
}

/** Fisher-Yates permutation of 0..n-1 from seedrandom's alea generator (not Math.random). */
export function permutation(n: number, seed: number): Int32Array {
  const rng = seedrandom.alea(String(seed));
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

export interface TrainValSplit {
  train: Int32Array;
  val: Int32Array;
}

/** The seeded hold-out of the training images: disjoint train and validation indices. */
export function trainValSplit(total: number, trainSize: number, valSize: number, seed: number): TrainValSplit {
  const order = permutation(total, derivedSeed(seed, 'split'));
  return { train: order.slice(0, trainSize), val: order.slice(trainSize, trainSize + valSize) };
}

/** Images at `indices` as float32 scaled to [0, 1], laid out [n, ...IMAGE_SHAPE]. */
export function gatherImages(images: Uint8Array, indices: ArrayLike<number>, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(indices.length * PIXELS);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i] * PIXELS;
    const dst = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) out[dst + p] = images[src + p] / 255;
  }
  return out;
}

export function gatherLabels(labels: Uint8Array, indices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = labels[indices[i]];
  return out;
}
