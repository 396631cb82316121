import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModel } from '../pipeline/ml/model.js';
import type { HistoryRow } from '../pipeline/catalog/schema.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { trainBatch } from '../pipeline/ml/trainer.js';
import { resumeEpoch, saveEpoch } from '../steps/train/state.js';
import { tempDir } from './helpers.js';

const row = (epoch: number): HistoryRow => ({ epoch, loss: 1 / epoch, accuracy: 0.5, val_loss: 1 / epoch, val_accuracy: 0.5, seconds: 1, samples_per_s: 1 });

function batch(seed: number) {
  const x = tf.tidy(() => tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', seed).dataSync() as Float32Array);
  const y = Int32Array.from({ length: 8 }, (_, i) => (i + seed) % 10);
  return { x, y };
}

function step(model: tf.LayersModel, opt: tf.Optimizer, seed: number) {
  const { x, y } = batch(seed);
  trainBatch(model, opt, x, y, seed);
}

/** A digest of every weight's exact bits (toEqual on 333k-element arrays makes failure diffs unusably slow). */
const bits = (model: tf.LayersModel) =>
  model.getWeights().map((w) => createHash('sha256').update(new Uint8Array(w.dataSync().buffer)).digest('hex'));

describe('per-epoch training state', () => {
  beforeAll(async () => {
    await initTf('wasm');
  });

  it('resumes weights and the whole Adam state bit for bit', async () => {
    const root = tempDir();
    const model = buildModel(3);
    const opt = tf.train.adam();
    step(model, opt, 1);
    await saveEpoch(root, 'key', [row(1)], [], model, opt);
    step(model, opt, 2);
    await saveEpoch(root, 'key', [row(1), row(2)], [1], model, opt);

    const model2 = buildModel(99);
    const opt2 = tf.train.adam();
    const warnings: string[] = [];
    const resumed = await resumeEpoch(root, 'key', model2, opt2, (m) => warnings.push(m));
    expect(warnings).toEqual([]);
    expect(resumed?.rows.map((r) => r.epoch)).toEqual([1, 2]);
    expect(bits(model2)).toEqual(bits(model));
    // The next step from the resumed state equals the next step of the uninterrupted one.
    step(model, opt, 3);
    step(model2, opt2, 3);
    expect(bits(model2)).toEqual(bits(model));
  });

  it('falls back to the previous kept epoch when the newest is damaged, and starts clean for another key', async () => {
    const root = tempDir();
    const model = buildModel(4);
    const opt = tf.train.adam();
    step(model, opt, 1);
    await saveEpoch(root, 'key', [row(1)], [], model, opt);
    const epoch1 = bits(model);
    step(model, opt, 2);
    await saveEpoch(root, 'key', [row(1), row(2)], [1], model, opt);
    const bin = join(root, 'epoch-0002', 'tensors.bin');
    writeFileSync(bin, readFileSync(bin).subarray(0, 1000));

    const warnings: string[] = [];
    const model2 = buildModel(4);
    const resumed = await resumeEpoch(root, 'key', model2, tf.train.adam(), (m) => warnings.push(m));
    expect(resumed?.rows.map((r) => r.epoch)).toEqual([1]);
    expect(bits(model2)).toEqual(epoch1);
    expect(warnings.join('\n')).toMatch(/saved epoch 2 .* does not load \(.*tensors\.bin does not match its recorded SHA-256/);
    expect(warnings.join('\n')).toMatch(/resumed from epoch 1/);

    const other: string[] = [];
    expect(await resumeEpoch(root, 'other-key', buildModel(4), tf.train.adam(), (m) => other.push(m))).toBeNull();
    expect(other.join('\n')).toMatch(/saved epochs 1-2 in .* were trained with other parameters or data: starting over; they are kept in .*\.previous/);
    expect(readFileSync(join(`${root}.previous`, 'latest.json'), 'utf8')).toContain('"epoch": 2');
  });

  it('keeps only the newest, the previous and the named epochs on disk', async () => {
    const root = tempDir();
    const model = buildModel(5);
    const opt = tf.train.adam();
    const rows: HistoryRow[] = [];
    for (let e = 1; e <= 5; e++) {
      step(model, opt, e);
      rows.push(row(e));
      await saveEpoch(root, 'key', rows, [e - 1, 2].filter((k) => k >= 1), model, opt);
    }
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(root).sort()).toEqual(['epoch-0002', 'epoch-0004', 'epoch-0005', 'latest.json']);
    expect(JSON.parse(readFileSync(join(root, 'latest.json'), 'utf8'))).toEqual({ key: 'key', epoch: 5, kept: [5, 4, 2] });
  });

  it('a damaged or missing latest.json loses nothing: the newest epoch folder that verifies under the key is resumed', async () => {
    const root = tempDir();
    const model = buildModel(6);
    const opt = tf.train.adam();
    step(model, opt, 1);
    await saveEpoch(root, 'key', [row(1)], [], model, opt);
    step(model, opt, 2);
    await saveEpoch(root, 'key', [row(1), row(2)], [1], model, opt);
    const epoch2 = bits(model);
    const { readdirSync, rmSync } = await import('node:fs');

    // The pointer cut short, as a kill or a bad disk leaves it.
    writeFileSync(join(root, 'latest.json'), '{"epoch": ');
    const warnings: string[] = [];
    const model2 = buildModel(99);
    const resumed = await resumeEpoch(root, 'key', model2, tf.train.adam(), (m) => warnings.push(m));
    expect(resumed?.rows.map((r) => r.epoch)).toEqual([1, 2]);
    expect(bits(model2)).toEqual(epoch2);
    expect(warnings.join('\n')).toMatch(/latest\.json is not valid JSON .*: looking for the newest saved epoch that verifies instead/);
    expect(warnings.join('\n')).toMatch(/resumed from epoch 2/);
    expect(readdirSync(root).sort()).toEqual(['epoch-0001', 'epoch-0002', 'latest.json']);

    // No pointer at all (a kill before the first one moved): the same.
    rmSync(join(root, 'latest.json'));
    const model3 = buildModel(98);
    expect((await resumeEpoch(root, 'key', model3, tf.train.adam(), () => undefined))?.rows).toHaveLength(2);
    expect(bits(model3)).toEqual(epoch2);

    // Folders of another key are not resumed, and not deleted either: they are set aside.
    const other: string[] = [];
    expect(await resumeEpoch(root, 'other-key', buildModel(97), tf.train.adam(), (m) => other.push(m))).toBeNull();
    expect(other.join('\n')).toMatch(/no saved epoch in .* verifies for these params, data and code: starting clean; the epoch folders are kept in .*\.previous/);
    expect(readdirSync(`${root}.previous`).sort()).toEqual(['epoch-0001', 'epoch-0002']);
  });
});
