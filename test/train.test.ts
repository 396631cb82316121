import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { History, Metrics } from '../pipeline/catalog/schema.js';
import { buildModel, LAYER_NAMES, TOTAL_PARAMS } from '../pipeline/ml/model.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { confusionMatrix } from '../steps/checkpoint.js';
import { earlyStopping } from '../steps/train/fit.js';
import { runCli, tempDir } from './helpers.js';

const row = (epoch: number, val_loss: number) => ({ epoch, loss: 1, accuracy: 0.5, val_loss, val_accuracy: 0.5, seconds: 1, samples_per_s: 1 });

describe('early stopping (Keras EarlyStopping on val_loss, restore_best_weights)', () => {
  it('stops `patience` epochs after the best and restores the best', () => {
    // The book: best epoch 6, stopped after 8 with patience 2.
    const losses = [0.5, 0.4, 0.35, 0.3, 0.25, 0.2193, 0.23, 0.24];
    const rows = losses.map((l, i) => row(i + 1, l));
    expect(earlyStopping(rows.slice(0, 7), 2)).toEqual({ best: 6, stop: false });
    expect(earlyStopping(rows, 2)).toEqual({ best: 6, stop: true });
  });
  it('needs a strict improvement; patience 0 stops at the first epoch without one', () => {
    const rows = [row(1, 0.5), row(2, 0.5)];
    expect(earlyStopping(rows, 0)).toEqual({ best: 1, stop: true });
    expect(earlyStopping(rows, 1)).toEqual({ best: 1, stop: true });
    expect(earlyStopping(rows, 2)).toEqual({ best: 1, stop: false });
    expect(earlyStopping([], 2)).toEqual({ best: 1, stop: false });
  });
  it('a late improvement resets the wait', () => {
    const rows = [row(1, 0.5), row(2, 0.6), row(3, 0.4), row(4, 0.45)];
    expect(earlyStopping(rows, 2)).toEqual({ best: 3, stop: false });
  });
});

describe('the book model', () => {
  it('has the Keras layer names, 333,526 parameters and seeded initial weights', async () => {
    await initTf('cpu');
    const a = buildModel(1);
    const b = buildModel(1);
    const c = buildModel(2);
    expect(a.layers.map((l) => l.name)).toEqual([...LAYER_NAMES]);
    expect(a.countParams()).toBe(TOTAL_PARAMS);
    expect(a.layers.map((l) => l.outputShape)).toEqual([
      [null, 28, 28, 32], [null, 14, 14, 32], [null, 14, 14, 64], [null, 7, 7, 64], [null, 3136], [null, 100], [null, 100], [null, 10],
    ]);
    const first = (m: typeof a) => Array.from(m.getWeights()[0].dataSync());
    expect(first(a)).toEqual(first(b));
    expect(first(a)).not.toEqual(first(c));
    // Distinct seeds per layer: conv2d_1's kernel is not conv2d's numbers again.
    expect(Array.from(a.getWeights()[2].dataSync()).slice(0, 9)).not.toEqual(first(a).slice(0, 9));
    for (const m of [a, b, c]) m.dispose();
  });
});

describe('confusion matrix', () => {
  it('counts [true][predicted]', () => {
    const m = confusionMatrix([0, 0, 1, 9, 9], [0, 1, 1, 9, 0]);
    expect(m[0][0]).toBe(1);
    expect(m[0][1]).toBe(1);
    expect(m[1][1]).toBe(1);
    expect(m[9][9]).toBe(1);
    expect(m[9][0]).toBe(1);
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(5);
  });
});

describe('training on the real data (wasm, small subset)', () => {
  const artifacts = tempDir();
  const small = ['--profile', 'quick', '--train-size', '640', '--val-size', '128', '--epochs', '2', '--to', 'checkpoint', '--backend', 'wasm', '--artifacts', artifacts];
  const weightsHash = (run: string) => createHash('sha256').update(readFileSync(join(artifacts, 'runs', run, 'checkpoint', 'weights.bin'))).digest('hex');

  it('the same seed gives bit-identical checkpoint weights; another seed gives different ones', () => {
    for (const [run, seed] of [['a', '7'], ['b', '7'], ['c', '8']]) {
      const r = runCli('pipeline/main.ts', [...small, '--run', run, '--seed', seed]);
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
    }
    expect(weightsHash('a')).toBe(weightsHash('b'));
    expect(weightsHash('c')).not.toBe(weightsHash('a'));

    const history = JSON.parse(readFileSync(join(artifacts, 'runs', 'a', 'train', 'history.json'), 'utf8')) as History;
    expect(history.rows.map((r) => r.epoch)).toEqual([1, 2]);
    const metrics = JSON.parse(readFileSync(join(artifacts, 'runs', 'a', 'checkpoint', 'metrics.json'), 'utf8')) as Metrics;
    expect(metrics.test.count).toBe(10_000);
    expect(metrics.val!.count).toBe(128);
    expect(metrics.confusion.flat().reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(metrics.best_epoch).toBe(history.best_epoch);
    // Even 2 epochs of 640 images learn something: far above chance (0.1).
    expect(metrics.test.accuracy).toBeGreaterThan(0.5);
    const m = JSON.parse(readFileSync(join(artifacts, 'runs', 'a', 'checkpoint', 'model.json'), 'utf8')) as { modelTopology: { config: { layers: { config: { name: string } }[] } } };
    expect(m.modelTopology.config.layers.map((l) => l.config.name)).toEqual(['conv2d', 'max_pooling2d', 'conv2d_1', 'max_pooling2d_1', 'flatten', 'dense', 'dropout', 'dense_1']);
  });

  it('re-running the same command skips training and evaluation', () => {
    const r = runCli('pipeline/main.ts', [...small, '--run', 'a', '--seed', '7']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('train: up to date, skipped');
    expect(r.stdout).toContain('checkpoint: up to date, skipped');
  });
});
