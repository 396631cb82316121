/**
 * What pattern does each filter want (steps/filter-patterns.ts, steps/filter-patterns/ascent.ts):
 * on the book's own trained model (the Keras 3 fixture, imported in-process) and on the suite's
 * tiny run, every live filter's found input excites it more than any of the 10,000 test images,
 * each mean computed here from the kernels and biases alone, not through the step's code; the
 * step run again gives the tiny run's files bit for bit; a dense network gets an index without
 * layers and one sentence in the report; the tiny run's report shows both figures.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFashionMnist, PIXELS } from '../pipeline/catalog/dataset.js';
import { importModel } from '../pipeline/catalog/keras/index.js';
import { readNpy, type NpyArray } from '../pipeline/catalog/npy.js';
import type { FilterPatternsIndex } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { PROFILE_DEFAULTS, type Params } from '../pipeline/core/params.js';
import { mosaicPng } from '../pipeline/render/figures/filter-patterns.js';
import { loadCatalog, message } from '../pipeline/render/messages.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { filterPatternsStep, PATTERN_SETTINGS, START_RANGE } from '../steps/filter-patterns.js';
import { ascendLayer, convLayerIndices, type LayerPatterns } from '../steps/filter-patterns/ascent.js';
import { buildReportContext, loadReportInputs, renderReport, reportStep } from '../steps/report.js';
import { readJson, tempDir } from './helpers.js';
import { datasetDir } from './helpers/fixture-run.js';
import { stepContext } from './helpers/step-context.js';

const BOOK = fileURLToPath(new URL('./fixtures/keras/book-keras-3.4.1.keras', import.meta.url));
const SEED = 42;
/** The tiny run's params (test/global-setup.ts TINY_ARGS): the quick profile, seed 42. */
const TINY_PARAMS: Params = { ...PROFILE_DEFAULTS.quick, profile: 'quick', seed: SEED, backend: 'wasm', lang: 'en' };

interface Weights {
  k1: NpyArray;
  b1: NpyArray;
  k2: NpyArray;
  b2: NpyArray;
}

/**
 * The mean over positions of a 'same' 3 x 3 convolution of `maps` [n, h, w, c] with `kernel`
 * [9 * c, filters] (C order of [3, 3, c, filters]), plus `bias`: over its taps, the tap's kernel
 * times the sum of the values the tap sees over the h * w positions, divided by h * w. [n, filters].
 * Tap (di, dj) sees every value but the last row when di = 0 and the first when di = 2 (the
 * padding's zeros stand in for them), and likewise for columns: the total, minus those, plus the
 * corner counted twice. (Sums, not shifted slices: wasm slices big tensors slowly.)
 */
function meanOfConv(maps: tf.Tensor4D, kernel: tf.Tensor2D, bias: tf.Tensor1D): tf.Tensor2D {
  const [n, h, w, c] = maps.shape;
  const total = tf.sum(maps, [1, 2]);
  const rows = tf.sum(maps, 2);
  const cols = tf.sum(maps, 1);
  const line = (sums: tf.Tensor, i: number) => tf.reshape(tf.slice(sums, [0, i, 0], [n, 1, c]), [n, c]);
  const left = (d: number, size: number) => (d === 0 ? size - 1 : d === 2 ? 0 : null);
  const taps: tf.Tensor[] = [];
  for (let di = 0; di < 3; di++) {
    for (let dj = 0; dj < 3; dj++) {
      const [r, s] = [left(di, h), left(dj, w)];
      let seen: tf.Tensor = total;
      if (r !== null) seen = tf.sub(seen, line(rows, r));
      if (s !== null) seen = tf.sub(seen, line(cols, s));
      if (r !== null && s !== null) seen = tf.add(seen, tf.reshape(tf.slice(maps, [0, r, s, 0], [n, 1, 1, c]), [n, c]));
      taps.push(seen);
    }
  }
  return tf.add(tf.div(tf.matMul(tf.concat(taps, 1), kernel), h * w), bias);
}

/**
 * Per image, the mean pre-activation of every filter of the book's two conv layers, from the
 * kernels and biases alone, with no conv layer's mean taken from a conv's output: meanOfConv on
 * the image for conv2d; for conv2d_1, on conv2d's maps after relu and 2 x 2 max pooling (pooled
 * before the bias and the relu, which commute with a max: a quarter of the work on the largest
 * tensor). The same numbers as the convs' means, by another road than the step's.
 */
function conv2dMeans(w: Weights, images: Float32Array, count: number): { conv2d: Float32Array; conv2d_1: Float32Array } {
  const f1 = w.k1.shape[3];
  const f2 = w.k2.shape[3];
  const out = { conv2d: new Float32Array(count * f1), conv2d_1: new Float32Array(count * f2) };
  const k1 = tf.tensor4d(w.k1.data, w.k1.shape as [number, number, number, number]);
  const k1flat = tf.tensor2d(w.k1.data, [9, f1]);
  const k2 = tf.tensor2d(w.k2.data, [w.k2.shape[0] * w.k2.shape[1] * w.k2.shape[2], f2]);
  const b1 = tf.tensor1d(w.b1.data);
  const b2 = tf.tensor1d(w.b2.data);
  for (let start = 0; start < count; start += 1000) {
    const n = Math.min(1000, count - start);
    const [m1, m2] = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * PIXELS, (start + n) * PIXELS), [n, 28, 28, 1]);
      const pooled = tf.relu(tf.add(tf.maxPool(tf.conv2d(x, k1, 1, 'same'), 2, 2, 'valid'), b1)) as tf.Tensor4D;
      return [meanOfConv(x, k1flat, b1), meanOfConv(pooled, k2, b2)];
    });
    out.conv2d.set(m1.dataSync(), start * f1);
    out.conv2d_1.set(m2.dataSync(), start * f2);
    tf.dispose([m1, m2]);
  }
  tf.dispose([k1, k1flat, k2, b1, b2]);
  return out;
}

/** Per filter, the highest mean over the images. */
function bestOver(means: Float32Array, filters: number): number[] {
  const best = new Array<number>(filters).fill(-Infinity);
  for (let i = 0; i < means.length; i++) best[i % filters] = Math.max(best[i % filters], means[i]);
  return best;
}

/** Filter k's mean on its own found input k. */
const ownMeans = (means: Float32Array, filters: number) => Array.from({ length: filters }, (_, k) => means[k * filters + k]);

interface Verdict {
  layer: string;
  dead: number[];
  /** the smallest margin (found minus best test image) over the live filters */
  margin: number;
  losers: string[];
}

/** Compares each live filter's found input with the test images, and the recorded means with the ones computed here. */
function judge(layer: 'conv2d' | 'conv2d_1', filters: { mean: number; dead: boolean }[], found: Float32Array, testBest: number[]): Verdict {
  const n = filters.length;
  const mine = ownMeans(found, n);
  filters.forEach((f, k) => expect(Math.abs(f.mean - mine[k]), `${layer} filter ${k}: recorded ${f.mean}, computed ${mine[k]}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(mine[k]))));
  const live = filters.flatMap((f, k) => (f.dead ? [] : [k]));
  return {
    layer,
    dead: filters.flatMap((f, k) => (f.dead ? [k] : [])),
    margin: Math.min(...live.map((k) => mine[k] - testBest[k])),
    losers: live.filter((k) => !(mine[k] > testBest[k])).map((k) => `${k}: ${mine[k]} <= ${testBest[k]}`),
  };
}

let testImages: Float32Array;
const tinyRun = () => RunStore.at(inject('tinyRun'));

beforeAll(async () => {
  await initTf('wasm');
  const { test } = await loadFashionMnist(datasetDir());
  testImages = Float32Array.from(test.images, (v) => v / 255);
});

// The quick profile's settings, a quarter of the book's steps: the claim is about the ascent, and
// CI time is scarce (the book's settings run on the same model in test/import.test.ts's imports).
describe("the book's trained model (Keras 3 fixture), at the quick profile's settings", () => {
  let found: LayerPatterns[];
  let w: Weights;
  let seconds: number;

  beforeAll(async () => {
    const { model } = await importModel(BOOK);
    const settings = { ...PATTERN_SETTINGS.quick, seed: SEED, start: START_RANGE };
    const started = performance.now();
    found = convLayerIndices(model).map((i) => ascendLayer(model, i, settings));
    seconds = (performance.now() - started) / 1000;
    const [k1, b1] = model.getLayer('conv2d').getWeights();
    const [k2, b2] = model.getLayer('conv2d_1').getWeights();
    const npy = (t: tf.Tensor) => ({ data: t.dataSync() as Float32Array, shape: t.shape });
    w = { k1: npy(k1), b1: npy(b1), k2: npy(k2), b2: npy(b2) };
    model.dispose();
  });

  it('every live filter: the found input excites it more than any of the 10,000 test images', () => {
    expect(found.map((l) => [l.layer, l.reads, l.filters.length, l.inputs.length])).toEqual([
      ['conv2d', null, 32, 32 * PIXELS],
      ['conv2d_1', 'max_pooling2d', 64, 64 * PIXELS],
    ]);
    const test = conv2dMeans(w, testImages, 10_000);
    const verdicts = found.map((l) => {
      const layer = l.layer as 'conv2d' | 'conv2d_1';
      const filters = l.filters.length;
      return judge(layer, l.filters, conv2dMeans(w, l.inputs, filters)[layer], bestOver(test[layer], filters));
    });
    console.log(`book model, trained, ${PATTERN_SETTINGS.quick.steps} steps: ${seconds.toFixed(1)} s in-process (1 thread); ${verdicts.map((v) => `${v.layer}: dead [${v.dead.join(', ')}], smallest margin over the best test image ${v.margin.toFixed(4)}`).join('; ')}`);
    for (const v of verdicts) expect(v.losers, v.layer).toEqual([]);
    // Not vacuous: most filters are alive.
    for (const v of verdicts) expect(v.dead.length).toBeLessThan(found.find((l) => l.layer === v.layer)!.filters.length / 4);
  });
});

describe("the suite's tiny run", () => {
  const run = () => tinyRun();
  let index: FilterPatternsIndex;

  beforeAll(async () => {
    index = await readJson<FilterPatternsIndex>(run().filterPatterns.index.path);
  });

  it('index.json: the quick profile\'s settings, per conv layer trained.npy and untrained.npy [filters, 28, 28] with pixels in [0, 1]', async () => {
    expect(index).toMatchObject({ settings_of: 'quick', steps: PATTERN_SETTINGS.quick.steps, step_size: PATTERN_SETTINGS.quick.stepSize, penalty: PATTERN_SETTINGS.quick.penalty, seed: SEED, start: START_RANGE });
    expect(index.layers.map((l) => [l.layer, l.reads, l.shape])).toEqual([
      ['conv2d', null, [32, 28, 28]],
      ['conv2d_1', 'max_pooling2d', [64, 28, 28]],
    ]);
    for (const l of index.layers) {
      for (const kind of ['trained', 'untrained'] as const) {
        expect(l[kind].file).toBe(`${l.layer}/${kind}.npy`);
        expect(l[kind].filters).toHaveLength(l.shape[0]);
        const t = await readNpy(run().filterPatterns.file(l[kind].file));
        expect(t.shape).toEqual(l.shape);
        expect(Math.min(...t.data)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...t.data)).toBeLessThanOrEqual(1);
        // Dead means firing nowhere, on the start and on the found input.
        for (const f of l[kind].filters) expect(f.dead).toBe(!(f.start_max > 0) && !(f.max > 0));
      }
    }
  });

  it('every live trained filter: the found input excites it more than any of the 10,000 test images', async () => {
    // The weights step's kernels and biases: the same model, read from other files than the step read.
    const tensor = (layer: string, t: string) => readNpy(join(run().runDir, 'weights', 'trained', layer, `${t}.npy`));
    const w: Weights = { k1: await tensor('conv2d', 'kernel'), b1: await tensor('conv2d', 'bias'), k2: await tensor('conv2d_1', 'kernel'), b2: await tensor('conv2d_1', 'bias') };
    const test = conv2dMeans(w, testImages, 10_000);
    const verdicts: Verdict[] = [];
    for (const l of index.layers) {
      const layer = l.layer as 'conv2d' | 'conv2d_1';
      const inputs = await readNpy(run().filterPatterns.file(l.trained.file));
      verdicts.push(judge(layer, l.trained.filters, conv2dMeans(w, inputs.data, l.shape[0])[layer], bestOver(test[layer], l.shape[0])));
    }
    console.log(`tiny run, trained, ${index.steps} steps: ${verdicts.map((v) => `${v.layer}: dead [${v.dead.join(', ')}], smallest margin ${v.margin.toFixed(4)}`).join('; ')}`);
    for (const v of verdicts) expect(v.losers, v.layer).toEqual([]);
  });

  it("the step run again on the tiny run's model writes the same files, bit for bit", async () => {
    const staging = tempDir('cnn-lens-patterns-');
    try {
      const store = run().withStaging('filter-patterns', staging);
      const started = performance.now();
      await filterPatternsStep.run(stepContext(filterPatternsStep, TINY_PARAMS, store, { backend: 'wasm' }));
      console.log(`filter-patterns step on the tiny run's model (quick settings, trained + untrained, 1 thread): ${((performance.now() - started) / 1000).toFixed(1)} s`);
      const files = (dir: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.npy') || f.endsWith('.json')).sort();
      expect(files(staging)).toEqual(['conv2d/trained.npy', 'conv2d/untrained.npy', 'conv2d_1/trained.npy', 'conv2d_1/untrained.npy', 'index.json']);
      expect(files(run().filterPatterns.dir)).toEqual(files(staging));
      for (const f of files(staging)) expect(readFileSync(join(staging, f)).equals(readFileSync(join(run().filterPatterns.dir, f))), f).toBe(true);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });

  it('report.html: the section after feature maps, with both figures, the settings and the dead filters named', () => {
    const html = readFileSync(run().reportHtml.path, 'utf8');
    const part = /<div class="beyond-part" id="filter-patterns" data-beyond="filter-patterns">[\s\S]*?\n<\/div>\n/.exec(html)?.[0] ?? '';
    expect(part).not.toBe('');
    const at = html.indexOf(part);
    expect(at).toBeGreaterThan(html.indexOf('<section id="beyond"'));
    expect(at).toBeLessThan(html.indexOf('<section id="training"'));
    for (const layer of ['conv2d', 'conv2d_1']) {
      expect(part).toContain(`data-figure="filter-patterns-${layer}"`);
      const l = index.layers.find((x) => x.layer === layer)!;
      const dead = /<span data-dead="[^"]+">([^<]*)<\/span>/.exec(part.slice(part.indexOf(`data-figure="filter-patterns-${layer}"`)))![1];
      const list = (kind: 'trained' | 'untrained') => l[kind].filters.flatMap((f, k) => (f.dead ? [k] : [])).join(', ');
      const en = loadCatalog('en');
      expect(dead).toContain(list('trained') ? message(en, 'beyond.filter-patterns.dead_trained', { list: list('trained') }) : message(en, 'beyond.filter-patterns.none_dead_trained'));
      expect(dead).toContain(list('untrained') ? message(en, 'beyond.filter-patterns.dead_untrained', { list: list('untrained') }) : message(en, 'beyond.filter-patterns.none_dead_untrained'));
    }
    expect(part).toContain(`${index.steps} steps`);
    console.log(`the filter-patterns section: ${Buffer.byteLength(part)} bytes of ${Buffer.byteLength(html)} in report.html`);
  });
});

describe('a dense network (no conv layer)', () => {
  const root = tempDir('cnn-lens-patterns-dense-');
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('gets an index without layers, no tensors, and one sentence in the report instead of the section', async () => {
    const store = new RunStore(join(root, 'artifacts'), 'dense');
    const net = tf.sequential({
      layers: [
        tf.layers.flatten({ name: 'flatten', inputShape: [28, 28, 1] }),
        tf.layers.dense({ name: 'dense', units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      ],
    });
    await store.model.save(net);
    net.dispose();
    await filterPatternsStep.run(stepContext(filterPatternsStep, TINY_PARAMS, store, { backend: 'wasm' }));
    const index = await store.filterPatterns.index.read();
    expect(index.layers).toEqual([]);
    expect(readdirSync(store.filterPatterns.dir).sort()).toEqual(['index.json']);

    // The tiny run's report inputs with this index in place of its own.
    const tiny = tinyRun();
    const inputs = await loadReportInputs(reportStep.inputs(tiny, TINY_PARAMS), 'tiny', 'en');
    const { svgs } = await tiny.figures.readSvgs();
    const html = await renderReport(buildReportContext({ ...inputs, patterns: index }), svgs);
    const part = /<div class="beyond-part" id="filter-patterns"[\s\S]*?\n<\/div>\n/.exec(html)?.[0] ?? '';
    expect(part).toContain(`<p data-empty="filter-patterns">${message(loadCatalog('en'), 'beyond.filter-patterns.empty')}</p>`);
    expect(part).not.toContain('data-figure=');
  });
});

describe('the figure', () => {
  it('puts all tiles in one greyscale PNG, filter by filter, row by row, in reversed grey with a 1-pixel gap', () => {
    // 3 filters of 2 x 2 in 2 columns: pixel value v of filter f at (y, x) is (f * 4 + y * 2 + x) / 11.
    const data = Float32Array.from({ length: 12 }, (_, i) => i / 11);
    const { png, width, height } = mosaicPng(data, 3, 2, 2, 2);
    expect([width, height]).toEqual([5, 5]);
    const image = PNG.sync.read(Buffer.from(png));
    const grey = (x: number, y: number) => image.data[(y * width + x) * 4];
    for (let f = 0; f < 3; f++) {
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 2; x++) {
          const v = (f * 4 + y * 2 + x) / 11;
          // gray_r: 0 is white, 1 black, in 256 steps (matplotlib's Normalize + colormap).
          expect(grey((f % 2) * 3 + x, Math.floor(f / 2) * 3 + y), `filter ${f} (${y}, ${x})`).toBe(255 - Math.min(255, Math.floor(v * 256)));
        }
      }
    }
    expect(grey(2, 0)).toBe(255);
    expect(grey(0, 2)).toBe(255);
  });
});
