/**
 * `npm run pipeline -- --model <file>`: the reader's own trained model through the whole pipeline,
 * checked against numbers computed independently of cnn-lens (test/fixtures/keras/expected.json:
 * h5py + PyTorch), in the files the run writes, not in the rounded text of the report.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readNpy } from '../pipeline/catalog/npy.js';
import { RunStore } from '../pipeline/catalog/store.js';
import type { FeatureIndex, Metrics, WeightStats } from '../pipeline/catalog/schema.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import { readJson, runCli, tempDir } from './helpers.js';
import { linkDataset } from './helpers/fixture-run.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'keras');
const BOOK = join(FIXTURES, 'book-keras-3.4.1.keras');

interface Expected {
  layers: string[];
  kernel_stats: Record<string, { mean: number; std: number; shape: number[] }>;
  test_accuracy: number;
  test_probs_0_9: number[][];
  train0_feature_maps: Record<string, { shape: number[]; sum: number; max: number }>;
}
const EXPECTED = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>;

const sha8 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 8);
const ENV = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' };

describe('npm run pipeline -- --model', () => {
  const root = tempDir('cnn-lens-import-');
  const artifacts = join(root, 'artifacts');
  // --map-points: the mistakes step maps 200 test images instead of an imported model's 10,000 (about 20 s of UMAP per run).
  const pipeline = (args: string[]) => runCli('pipeline/main.ts', [...args, '--artifacts', artifacts, '--backend', 'wasm', '--map-points', '200'], ENV);

  beforeAll(async () => {
    await linkDataset(new RunStore(artifacts, 'unused'));
    mkdirSync(join(root, 'bad'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  for (const file of Object.keys(EXPECTED).sort()) {
    describe(file, () => {
      const expected = EXPECTED[file];
      const path = join(FIXTURES, file);
      const runId = `model-${file.replace(/\.(keras|h5)$/, '')}-${sha8(path)}`;
      const store = new RunStore(artifacts, runId);

      it('runs every step but train, which imports the file, under the run id made from its name and hash', () => {
        const r = pipeline(['--model', path]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        expect(existsSync(store.runDir)).toBe(true);
        expect(r.stdout).toContain(`train: imported ${path}`);
      });

      it('records the file in run.json: train imported, with its path, SHA-256, format and Keras version', async () => {
        const manifest = await readJson<RunManifest>(store.runJson);
        const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
        const train = manifest.steps.train;
        expect(train.status).toBe('imported');
        expect(train.source).toMatchObject({ path, sha256, format: file.endsWith('.keras') ? 'keras3' : 'keras2-h5' });
        expect(manifest.params.model).toMatchObject({ path, sha256 });
        const version = /keras-(\d+\.\d+\.\d+)/.exec(file)![1];
        expect(train.source!.keras_version).toBe(version);
        if (file.endsWith('.keras')) expect(train.source!.date_saved).toMatch(/^\d{4}-\d{2}-\d{2}/);
        for (const step of ['checkpoint', 'weights', 'feature-maps', 'figures', 'report']) expect(manifest.steps[step]?.status, step).toBe('ok');
        expect(existsSync(store.history.path)).toBe(false);
      });

      it("metrics.json: the test accuracy within one image of 10,000, test 0-9's probabilities within 1e-5, no training or validation figures", async () => {
        const metrics = await readJson<Metrics>(store.metrics.path);
        expect(Math.abs(metrics.test.accuracy * 10_000 - expected.test_accuracy * 10_000)).toBeLessThanOrEqual(1);
        expect(metrics.test.count).toBe(10_000);
        expect(metrics.first_test_probabilities).toHaveLength(10);
        metrics.first_test_probabilities!.forEach((row, i) => row.forEach((p, c) => expect(Math.abs(p - expected.test_probs_0_9[i][c]), `test ${i} class ${c}`).toBeLessThanOrEqual(1e-5)));
        expect(metrics.val).toBeUndefined();
        expect(metrics.best_epoch).toBeUndefined();
        expect(metrics.epochs_run).toBeUndefined();
      });

      it("stats.json and report.json: every kernel's shape, mean and std (1e-7)", async () => {
        const stats = await readJson<WeightStats>(store.weights.index.path);
        const report = await readJson<{ weights: { layers: { layer: string; kernel_shape: number[]; trained: { mean: number; std: number } }[] } }>(store.reportJson.path);
        expect(Object.keys(stats.trained)).toEqual(Object.keys(expected.kernel_stats));
        for (const [layer, k] of Object.entries(expected.kernel_stats)) {
          const s = stats.trained[layer].kernel;
          expect(s.shape, layer).toEqual(k.shape);
          expect(Math.abs(s.mean - k.mean), `${layer} mean`).toBeLessThanOrEqual(1e-7);
          expect(Math.abs(s.std - k.std), `${layer} std`).toBeLessThanOrEqual(1e-7);
          const row = report.weights.layers.find((l) => l.layer === layer)!;
          expect(row.kernel_shape).toEqual(k.shape);
          expect(Math.abs(row.trained.mean - k.mean)).toBeLessThanOrEqual(1e-7);
          expect(Math.abs(row.trained.std - k.std)).toBeLessThanOrEqual(1e-7);
        }
      });

      it("the feature maps of train image 0 (.npy): each conv and pooling layer's shape exact, sum within 1e-3", async () => {
        const index = await readJson<FeatureIndex>(store.featureMaps.index.path);
        const boot = index.samples.find((s) => s.id === 'train-0')!;
        expect(boot.layers.map((l) => l.layer).sort()).toEqual(Object.keys(expected.train0_feature_maps).sort());
        for (const l of boot.layers) {
          const want = expected.train0_feature_maps[l.layer];
          const t = await readNpy(store.featureMaps.file(l.file));
          expect(t.shape, l.layer).toEqual(want.shape);
          let sum = 0;
          let max = -Infinity;
          for (const v of t.data) {
            sum += v;
            if (v > max) max = v;
          }
          expect(Math.abs(sum - want.sum), `${l.layer} sum`).toBeLessThanOrEqual(1e-3);
          expect(Math.abs(max - want.max), `${l.layer} max`).toBeLessThanOrEqual(1e-5);
        }
      });

      it('the report says where the model came from, shows its own test accuracy, and draws no learning curves', () => {
        const html = readFileSync(store.reportHtml.path, 'utf8');
        const shown = /data-value="test\.accuracy">([^<]*)</.exec(html)?.[1];
        expect(shown).toBe(`${(Math.round(expected.test_accuracy * 10_000) / 100).toFixed(2)}%`);
        expect(html).toContain(`imported from <code>${path}</code>`);
        expect(html).not.toContain('data-value="val.accuracy"');
        expect(readdirSync(join(store.runDir, 'figures')).some((f) => f.startsWith('learning-curves'))).toBe(false);
      });

      if (file.endsWith('.keras')) {
        it('a second run of the same command skips every step', () => {
          const r = pipeline(['--model', path]);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toContain('0 step(s) ran');
        });
      }
    });
  }

  it("the book's .keras gives the chapter's printed numbers: conv2d mean -0.014383553, std 0.23351653; test accuracy 91.25%", async () => {
    const store = new RunStore(artifacts, `model-book-keras-3.4.1-${sha8(BOOK)}`);
    const stats = await readJson<WeightStats>(store.weights.index.path);
    expect(Math.abs(stats.trained.conv2d.kernel.mean - -0.014383553)).toBeLessThanOrEqual(1e-7);
    expect(Math.abs(stats.trained.conv2d.kernel.std - 0.23351653)).toBeLessThanOrEqual(1e-7);
    const metrics = await readJson<Metrics>(store.metrics.path);
    expect(Math.round(metrics.test.accuracy * 10_000)).toBe(9125);
  });

  it("diff: the book's kernels are closer to a run trained here than to that run's untrained twin", async () => {
    // A short trained run (one quick epoch), and its untrained twin as a TensorFlow.js model.json
    // import; both only up to feature-maps, the last step the diff reads (DIFF_READS).
    const trained = pipeline(['--profile', 'quick', '--epochs', '1', '--run', 'quick1', '--to', 'feature-maps']);
    expect(trained.code, trained.stderr).toBe(0);
    const { buildModel } = await import('../pipeline/ml/model.js');
    const { saveModel } = await import('../pipeline/catalog/model-io.js');
    const { initTf } = await import('../pipeline/tfjs/backend.js');
    await initTf('cpu');
    const twin = buildModel(42);
    await saveModel(twin, join(root, 'twin', 'model.json'));
    twin.dispose();
    const imported = pipeline(['--model', join(root, 'twin', 'model.json'), '--run', 'twin42', '--to', 'feature-maps']);
    expect(imported.code, imported.stderr).toBe(0);
    const book = `model-book-keras-3.4.1-${sha8(BOOK)}`;
    const similarity = (b: string) => {
      const out = join(root, 'diffs', b);
      const r = runCli('pipeline/diff-main.ts', [book, b, '--artifacts', artifacts, '--out', out], ENV);
      expect(r.code, r.stderr).toBe(0);
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { weights: { conv_match: { layer: string; mean_similarity: number }[] } };
      return Object.fromEntries(summary.weights.conv_match.map((m) => [m.layer, m.mean_similarity]));
    };
    const toTrained = similarity('quick1');
    const toTwin = similarity('twin42');
    console.log(`matched kernel similarity, book vs trained quick1: ${JSON.stringify(toTrained)}; vs its untrained twin: ${JSON.stringify(toTwin)}`);
    expect(toTrained.conv2d).toBeGreaterThan(toTwin.conv2d);
  });

  it('a dense-only model (chapter 7, 28 x 28 input) gets a full report: its dense weights, and one sentence where feature maps would be', async () => {
    const { tf } = await import('../pipeline/tfjs/tf.js');
    const { initTf } = await import('../pipeline/tfjs/backend.js');
    const { exportKeras } = await import('../pipeline/catalog/keras/index.js');
    await initTf('cpu');
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const net = tf.sequential({
      layers: [
        tf.layers.flatten({ name: 'flatten', inputShape: [28, 28] }),
        tf.layers.dense({ name: 'dense', units: 100, activation: 'relu', kernelInitializer: init(1) }),
        tf.layers.dropout({ name: 'dropout', rate: 0.3 }),
        tf.layers.dense({ name: 'dense_1', units: 10, activation: 'softmax', kernelInitializer: init(2) }),
      ],
    });
    const file = join(root, 'dense.keras');
    await exportKeras(net, file);
    net.dispose();
    const r = pipeline(['--model', file]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const store = new RunStore(artifacts, `model-dense-${sha8(file)}`);
    const stats = await readJson<WeightStats>(store.weights.index.path);
    expect(Object.keys(stats.trained)).toEqual(['dense', 'dense_1']);
    expect(stats.trained.dense.kernel.shape).toEqual([784, 100]);
    const index = await readJson<FeatureIndex>(store.featureMaps.index.path);
    expect(index.samples.every((s) => s.layers.length === 0)).toBe(true);
    const figures = readdirSync(join(store.runDir, 'figures'));
    expect(figures.filter((f) => /^(kernels|maps)-/.test(f))).toEqual([]);
    expect(figures).toContain('confusion.svg');
    const html = readFileSync(store.reportHtml.path, 'utf8');
    expect(html).toContain('data-empty="functional-api"');
    expect(html).toContain('data-empty="feature-maps"');
    expect(html).toContain('data-empty="filter-patterns"');
    // Grad-CAM weighs a conv layer's maps: the attention step's index says there is none, the report says why.
    expect(await readJson(store.attention.index.path)).toEqual({ layer: null, samples: [], score: null });
    expect(html).toContain('data-empty="attention"');
    expect(html).toContain('<code>dense_1</code>');
    const metrics = await readJson<Metrics>(store.metrics.path);
    expect(/data-value="test\.accuracy">([^<]*)</.exec(html)?.[1]).toBe(`${(metrics.test.accuracy * 100).toFixed(2)}%`);
  });

  it("a run's model.keras imports back to the checkpoint's weights and predictions, bit for bit", async () => {
    const { tf } = await import('../pipeline/tfjs/tf.js');
    const { initTf } = await import('../pipeline/tfjs/backend.js');
    const { importModel } = await import('../pipeline/catalog/keras/index.js');
    await initTf('cpu');
    const tiny = RunStore.at(inject('tinyRun'));
    const checkpoint = await tiny.model.load();
    const { model } = await importModel(tiny.modelKeras.path);
    const bytes = (t: { dataSync(): ArrayLike<number> }) => Buffer.from(Float32Array.from(t.dataSync()).buffer);
    const [cw, mw] = [checkpoint.getWeights(), model.getWeights()];
    expect(mw.map((w) => w.shape)).toEqual(cw.map((w) => w.shape));
    cw.forEach((w, i) => expect(bytes(mw[i]).equals(bytes(w)), `weight ${i}`).toBe(true));
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 5);
    const [pc, pm] = [checkpoint.predict(x) as typeof x, model.predict(x) as typeof x];
    expect(bytes(pm).equals(bytes(pc))).toBe(true);
    tf.dispose([x, pc, pm]);
    checkpoint.dispose();
    model.dispose();
  });

  describe('usage', () => {
    it('refuses the options only training uses, naming them (exit 2, nothing written)', () => {
      const r = runCli('pipeline/main.ts', ['--model', BOOK, '--epochs', '3', '--profile', 'quick', '--artifacts', join(root, 'usage')], ENV);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--profile, --epochs only apply to training');
      expect(existsSync(join(root, 'usage'))).toBe(false);
    });

    it('an imported run re-run without --model names the file it was made from (exit 2)', () => {
      const runId = `model-book-keras-3.4.1-${sha8(BOOK)}`;
      const r = pipeline(['--run', runId]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`run ${runId} was made from the model file ${BOOK}`);
    });

    it("--model on a trained run's id is refused: an imported model gets its own run (exit 2)", () => {
      const tiny = inject('tinyRun');
      const r = runCli('pipeline/main.ts', ['--model', BOOK, '--run', 'tiny', '--artifacts', join(tiny, '..', '..')], ENV);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('run tiny holds a model trained by cnn-lens');
    });
  });

  // Every bad file's message is asserted in test/keras.test.ts; here, that the CLI turns each kind
  // of failure (the container, the architecture, the weights) into exit 2 with nothing written.
  describe('bad files: exit 2, one message naming the file and the fix, no run folder', () => {
    const bad = join(root, 'bad');
    const book = unzipSync(new Uint8Array(readFileSync(BOOK)));
    const config = () => JSON.parse(strFromU8(book['config.json'])) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
    const writeKeras = (name: string, entries: Record<string, Uint8Array>) => {
      const path = join(bad, name);
      writeFileSync(path, zipSync(entries));
      return path;
    };
    const cases: [string, () => string, RegExp][] = [
      ['neither zip, HDF5 nor JSON', () => (writeFileSync(join(bad, 'notes.keras'), 'just some text\n'), join(bad, 'notes.keras')), /notes\.keras.*(zip|HDF5|JSON)/i],
      ['a truncated .h5', () => (writeFileSync(join(bad, 'cut.h5'), readFileSync(join(FIXTURES, 'book-keras-2.9.0.h5')).subarray(0, 200_000)), join(bad, 'cut.h5')), /cut\.h5/],
      [
        'an unsupported layer',
        () => {
          const c = config();
          c.config.layers[2].class_name = 'BatchNormalization';
          return writeKeras('batchnorm.keras', { ...book, 'config.json': strToU8(JSON.stringify(c)) });
        },
        /batchnorm\.keras.*BatchNormalization/,
      ],
      [
        'a weight of the wrong shape',
        () => {
          const c = config();
          const conv = c.config.layers.find((l) => l.class_name === 'Conv2D')!;
          conv.config.filters = 16;
          return writeKeras('shape.keras', { ...book, 'config.json': strToU8(JSON.stringify(c)) });
        },
        /shape\.keras.*conv2d/,
      ],
    ];
    for (const [name, make, message] of cases) {
      it(name, () => {
        const path = make();
        const out = join(root, `bad-artifacts-${name.replace(/\W+/g, '-')}`);
        const r = runCli('pipeline/main.ts', ['--model', path, '--artifacts', out], ENV);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split('\n').filter((l) => /error/i.test(l)).length).toBeLessThanOrEqual(1);
        expect(existsSync(join(out, 'runs'))).toBe(false);
      });
    }
  });
});
