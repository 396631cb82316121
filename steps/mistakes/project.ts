/**
 * The map: the hidden layer's outputs projected to 2-D with UMAP (umap-js), seeded. umap-js draws
 * every random number (the initial layout, the negative samples) from the `random` function it is
 * given, so one seed gives the same coordinates, bit for bit.
 */
import seedrandom from 'seedrandom';
import { UMAP } from 'umap-js';
import { tf } from '../../pipeline/tfjs/tf.js';

export interface ProjectionSettings {
  /** neighbours per point in UMAP's graph (the point itself counted, as umap-js counts it) */
  nNeighbors: number;
  /** optimisation epochs of the layout */
  nEpochs: number;
  /** points pushed away per neighbour pulled in, per epoch */
  negativeSampleRate: number;
  minDist: number;
  seed: number;
}

/** Rows of the neighbour search's distance matrix computed at once: 1,000 x 10,000 floats is 40 MB. */
const BLOCK = 1000;

/**
 * Each row's `k` nearest rows (itself first, at distance 0), exactly, by Euclidean distance:
 * |a|^2 + |b|^2 - 2ab as one matrix product per block of rows. umap-js's own approximate search
 * (random-projection trees and NN-descent over plain arrays) took about 5 s for 10,000 points of
 * 100 values here; this takes about one.
 */
export function nearestNeighbors(values: Float32Array, rows: number, width: number, k: number): { indices: number[][]; distances: number[][] } {
  const indices: number[][] = [];
  const distances: number[][] = [];
  const x = tf.tensor2d(values.subarray(0, rows * width), [rows, width]);
  const norms = tf.tidy(() => tf.sum(tf.square(x), 1));
  try {
    for (let start = 0; start < rows; start += BLOCK) {
      const end = Math.min(rows, start + BLOCK);
      const top = tf.tidy(() => {
        const block = tf.slice(x, [start, 0], [end - start, width]);
        const dot = tf.matMul(block, x, false, true);
        const d2 = tf.relu(tf.sub(tf.add(tf.reshape(tf.slice(norms, [start], [end - start]), [end - start, 1]), norms), tf.mul(dot, 2)));
        return tf.topk(tf.neg(d2), k);
      });
      const idx = top.indices.dataSync() as Int32Array;
      const neg = top.values.dataSync() as Float32Array;
      tf.dispose([top.indices, top.values]);
      for (let r = 0; r < end - start; r++) {
        const i = start + r;
        const row = Array.from(idx.subarray(r * k, (r + 1) * k));
        const dist = Array.from(neg.subarray(r * k, (r + 1) * k), (v) => Math.sqrt(-v));
        // The expansion above is not exactly 0 on the diagonal: put the point itself first, at 0,
        // where umap-js's graph expects it.
        const self = row.indexOf(i);
        if (self > 0) {
          row.splice(self, 1);
          dist.splice(self, 1);
        } else if (self < 0) {
          row.pop();
          dist.pop();
        }
        if (self !== 0) {
          row.unshift(i);
          dist.unshift(0);
        }
        dist[0] = 0;
        indices.push(row);
        distances.push(dist);
      }
    }
  } finally {
    tf.dispose([x, norms]);
  }
  return { indices, distances };
}

/** `rows` vectors of `width` values (row-major) -> rows x 2 coordinates (row-major). */
export function project(values: Float32Array, rows: number, width: number, settings: ProjectionSettings): Float32Array {
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: settings.nNeighbors,
    nEpochs: settings.nEpochs,
    minDist: settings.minDist,
    negativeSampleRate: settings.negativeSampleRate,
    random: seedrandom.alea(String(settings.seed)),
  });
  const knn = nearestNeighbors(values, rows, width, settings.nNeighbors);
  umap.setPrecomputedKNN(knn.indices, knn.distances);
  const embedding = umap.fit(Array.from({ length: rows }, (_, i) => Array.from(values.subarray(i * width, (i + 1) * width))));
  const out = new Float32Array(rows * 2);
  embedding.forEach(([x, y], i) => {
    out[i * 2] = x;
    out[i * 2 + 1] = y;
  });
  return out;
}
