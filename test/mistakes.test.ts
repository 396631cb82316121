/**
 * The mistakes step (steps/mistakes.ts): the most confident mistakes among the predicted test
 * images, checked against an independent prediction with the checkpoint model; the UMAP map of
 * the hidden Dense layer, on the book's own Keras model (classes apart, the same bits for one
 * seed); the tiny run's output and report section; models with no hidden Dense layer.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFashionMnist, PIXELS } from '../pipeline/catalog/dataset.js';
import { importModel } from '../pipeline/catalog/keras/index.js';
import { saveModel } from '../pipeline/catalog/model-io.js';
import { CLASS_NAMES, type MistakesIndex } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { PROFILE_DEFAULTS, type Params } from '../pipeline/core/params.js';
import { gatherImages } from '../pipeline/data/split.js';
import { probabilities } from '../pipeline/ml/trainer.js';
import { createPageRenderer, TEMPLATES_DIR } from '../pipeline/render/report-html.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { MAP_SETTINGS, mapPoints, MISTAKES_SHOWN, mistakesStep, QUICK_MAP_POINTS, TEST_IMAGES } from '../steps/mistakes.js';
import { parseCli } from '../pipeline/cli.js';
import { UsageError } from '../pipeline/core/errors.js';
import { hiddenDenseLayer, predictTestSet } from '../steps/mistakes/predict.js';
import { nearestNeighbors, project } from '../steps/mistakes/project.js';
import { mistakesSection } from '../steps/report/beyond-mistakes.js';
import { readJson } from './helpers.js';
import { datasetDir, linkDataset } from './helpers/fixture-run.js';
import { stepContext } from './helpers/step-context.js';

const BOOK = join(import.meta.dirname, 'fixtures', 'keras', 'book-keras-3.4.1.keras');

let data: Awaited<ReturnType<typeof loadFashionMnist>>;
let root: string;

beforeAll(async () => {
  await initTf('wasm');
  data = await loadFashionMnist(datasetDir());
  root = await mkdtemp(join(tmpdir(), 'cnn-lens-mistakes-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** The first `n` test images, scaled as the model was trained. */
const testImages = (n: number) => gatherImages(data.test.images, Array.from({ length: n }, (_, i) => i));

const argMax = (row: ArrayLike<number>) => Array.from(row).reduce((best, v, i, all) => (v > all[best] ? i : best), 0);

describe("the tiny run's mistakes (quick profile: the first 1,000 test images)", () => {
  const tiny = RunStore.at(inject('tinyRun'));
  let index: MistakesIndex;
  /** the checkpoint model's probabilities for the same images, computed here with the trainer's own helper */
  let independent: number[][];

  beforeAll(async () => {
    index = await tiny.mistakes.index.read();
    const model = await tiny.model.load();
    const images = testImages(index.test_images);
    independent = [];
    for (let start = 0; start < index.test_images; start += 250) {
      independent.push(...probabilities(model, images.subarray(start * PIXELS), Math.min(250, index.test_images - start)));
    }
    model.dispose();
  });

  it('predicts the quick profile\'s share, and saves the probabilities and labels it found the mistakes in', async () => {
    expect(index.test_images).toBe(QUICK_MAP_POINTS);
    const probs = await tiny.mistakes.read(index.probabilities.file, [QUICK_MAP_POINTS, 10]);
    const labels = await tiny.mistakes.read(index.labels.file, [QUICK_MAP_POINTS]);
    expect(Array.from(labels.data)).toEqual(Array.from(data.test.labels.subarray(0, QUICK_MAP_POINTS)));
    let worst = 0;
    independent.forEach((row, i) => row.forEach((p, c) => (worst = Math.max(worst, Math.abs(p - probs.data[i * 10 + c])))));
    expect(worst).toBeLessThanOrEqual(1e-6);
  });

  it('lists real mistakes, the most confident first: each confirmed by the independent prediction, with its image', async () => {
    expect(index.top.length).toBe(MISTAKES_SHOWN);
    expect(index.top.length).toBeGreaterThanOrEqual(20);
    for (const [i, m] of index.top.entries()) {
      expect(m.rank).toBe(i + 1);
      expect(m.label).toBe(data.test.labels[m.index]);
      expect(m.class_name).toBe(CLASS_NAMES.en[m.label]);
      const row = independent[m.index];
      expect(argMax(row), `test image ${m.index}`).toBe(m.prediction);
      expect(m.prediction).not.toBe(m.label);
      expect(Math.abs(row[m.prediction] - m.probability)).toBeLessThanOrEqual(1e-6);
      const image = await tiny.mistakes.read(m.image, [28, 28]);
      expect(Array.from(image.data)).toEqual(Array.from(testImages(m.index + 1).subarray(m.index * PIXELS)));
    }
    const p = index.top.map((m) => m.probability);
    expect(p).toEqual([...p].sort((a, b) => b - a));
  });

  it('no test image outside the list is a more confident mistake; the count and the confusion of the mistakes match', () => {
    const all = independent
      .map((row, i) => ({ i, prediction: argMax(row), probability: row[argMax(row)] }))
      .filter((r) => r.prediction !== data.test.labels[r.i])
      .sort((a, b) => b.probability - a.probability || a.i - b.i);
    expect(index.mistakes).toBe(all.length);
    expect(index.top.map((m) => m.index)).toEqual(all.slice(0, MISTAKES_SHOWN).map((r) => r.i));
    const listed = new Set(index.top.map((m) => m.index));
    const lowest = index.top[index.top.length - 1].probability;
    expect(all.filter((r) => !listed.has(r.i) && r.probability > lowest)).toEqual([]);
    const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    for (const r of all) confusion[data.test.labels[r.i]][r.prediction]++;
    expect(index.confusion).toEqual(confusion);
  });

  it("maps the dense layer: finite coordinates of shape [1000, 2], with the layout's settings and its time recorded", async () => {
    const map = index.map!;
    expect(map).not.toBeNull();
    expect([map.layer, map.layer_index, map.units, map.points]).toEqual(['dense', 5, 100, QUICK_MAP_POINTS]);
    const coords = await tiny.mistakes.read(map.coords.file, [QUICK_MAP_POINTS, 2]);
    expect(coords.data.every(Number.isFinite)).toBe(true);
    expect(new Set(coords.data).size).toBeGreaterThan(1900); // not collapsed onto a few points
    expect(map.seconds).toBeGreaterThan(0);
    const run = await readJson<{ steps: Record<string, { seconds: number }> }>(tiny.runJson);
    console.log(`tiny run: mistakes step ${run.steps.mistakes.seconds.toFixed(2)} s, of which the projection of ${map.points} points ${map.seconds.toFixed(2)} s`);
  });

  it('the report section: the grid and the map as figures, the map a raster (one image, no mark per point), the projection time', async () => {
    const html = await readFile(tiny.reportHtml.path, 'utf8');
    const start = html.indexOf('<div class="beyond-part" id="mistakes"');
    expect(start).toBeGreaterThan(html.indexOf('<section id="beyond"'));
    expect(start).toBeLessThan(html.indexOf('<section id="training"'));
    const section = html.slice(start, html.indexOf('\n</div>\n', start) + 7);
    const bytes = Buffer.byteLength(section);
    console.log(`tiny run: the mistakes section is ${bytes} bytes of ${Buffer.byteLength(html)}`);
    expect(bytes).toBeLessThan(250_000);
    expect(section).toContain('data-figure="mistakes"');
    const map = /<figure class="fig" id="fig-mistakes-map"[\s\S]*?<\/figure>/.exec(section)?.[0] ?? '';
    expect(map.match(/<image /g)).toHaveLength(1);
    expect(map).toMatch(/<image [^>]*href="data:image\/png;base64,/);
    // 10 legend symbols, 24 red rings and the frame's few paths; a mark per point would be 1,000.
    expect((map.match(/<path /g) ?? []).length).toBeLessThan(100);
    expect(section).toContain('This run predicts only the first 1,000 of the 10,000 test images');
    expect(section).toContain(`Of these 1,000 test images the model gets ${index.mistakes.toLocaleString('en-US')} wrong`);
    const seconds = index.map!.seconds;
    expect(section).toContain(`took ${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s on this machine`);
  });
});

describe("the map, on the book's own model (its Keras 3 file, imported here)", () => {
  const N = 1_000;
  let hidden: Float32Array;
  let width: number;

  beforeAll(async () => {
    const { model } = await importModel(BOOK);
    const layer = hiddenDenseLayer(model);
    expect(layer?.name).toBe('dense');
    const predicted = predictTestSet(model, layer, testImages(N), N);
    hidden = predicted.hidden!;
    width = predicted.width;
    model.dispose();
  });

  it('finds each point\'s exact nearest neighbours, itself first', () => {
    const rows = 300;
    const w = 20;
    const values = Float32Array.from({ length: rows * w }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    const k = 8;
    const { indices, distances } = nearestNeighbors(values, rows, w, k);
    for (const i of [0, 17, 150, 299]) {
      const brute = Array.from({ length: rows }, (_, j) => ({ j, d: Math.hypot(...Array.from({ length: w }, (_, c) => values[i * w + c] - values[j * w + c])) })).sort((a, b) => a.d - b.d);
      expect(indices[i]).toEqual(brute.slice(0, k).map((b) => b.j));
      expect(indices[i][0]).toBe(i);
      distances[i].forEach((d, n) => expect(Math.abs(d - brute[n].d)).toBeLessThan(1e-3));
    }
  });

  it('the same seed gives the same coordinates, bit for bit; another seed another layout', () => {
    const settings = { ...MAP_SETTINGS, seed: 7 };
    const a = project(hidden, N, width, settings);
    const b = project(hidden, N, width, settings);
    const c = project(hidden, N, width, { ...settings, seed: 8 });
    expect(a.length).toBe(N * 2);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);

    // Classes apart: an image lies much nearer the images of its own class than those of others.
    let same = 0;
    let sameN = 0;
    let other = 0;
    let otherN = 0;
    for (let i = 0; i < N; i++) {
      for (let j = i + 1; j < N; j++) {
        const d = Math.hypot(a[i * 2] - a[j * 2], a[i * 2 + 1] - a[j * 2 + 1]);
        if (data.test.labels[i] === data.test.labels[j]) {
          same += d;
          sameN++;
        } else {
          other += d;
          otherN++;
        }
      }
    }
    const ratio = same / sameN / (other / otherN);
    console.log(`book model, ${N} test images: mean distance to the same class / to other classes = ${ratio.toFixed(3)}`);
    expect(ratio).toBeLessThan(0.5);
  });
});

describe('models without a conv layer: the step in process, the report part rendered', () => {
  const params: Params = { ...PROFILE_DEFAULTS.book, profile: 'book', seed: 42, backend: 'wasm', lang: 'en', mapPoints: 200 };
  const artifacts = () => join(root, 'artifacts');

  beforeAll(async () => linkDataset(new RunStore(artifacts(), 'unused')));

  /** The step run on a fresh run folder whose checkpoint is `layers`; returns its index. */
  async function runOn(id: string, layers: tf.layers.Layer[]): Promise<MistakesIndex> {
    const store = new RunStore(artifacts(), id);
    const model = tf.sequential({ layers });
    await saveModel(model, store.model.modelJson);
    model.dispose();
    await mistakesStep.run(stepContext(mistakesStep, params, store, { backend: 'wasm' }));
    return store.mistakes.index.read();
  }

  /** templates/partials/beyond-mistakes.hbs alone, with the report's helpers and catalogs. */
  async function renderPart(index: MistakesIndex, lang: 'en' | 'ko'): Promise<string> {
    const dir = join(root, 'templates');
    await mkdir(dir, { recursive: true });
    await symlink(join(TEMPLATES_DIR, 'partials'), join(dir, 'partials')).catch(() => undefined);
    await writeFile(join(dir, 'part.hbs'), '{{> beyond-mistakes beyond.mistakes}}');
    const renderer = await createPageRenderer(dir);
    const section = mistakesSection(index, { figures: [] }, CLASS_NAMES[lang], 10_000);
    return renderer.render('part', { lang, beyond: { mistakes: section } }, new Map(), lang);
  }

  it('no hidden Dense layer (the output its only Dense layer): mistakes listed, no map, and one sentence saying why', async () => {
    const index = await runOn('no-hidden', [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })]);
    expect(index.test_images).toBe(200);
    expect(index.map).toBeNull();
    expect(index.top.length).toBeGreaterThanOrEqual(20);
    const en = await renderPart(index, 'en');
    expect(en).toContain('<p data-empty="mistakes-map">This model has no hidden Dense layer (its only Dense layer is the output layer), so there is no representation between the image and the classes to map.</p>');
    expect(en).not.toContain('data-mistakes="projection-time"');
    expect(await renderPart(index, 'ko')).toContain('<p data-empty="mistakes-map">이 모델에는 은닉층인 밀집층이 없습니다');
  });

  it("a dense-only network (chapter 7's): its hidden Dense layer is mapped, whatever its name", async () => {
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const index = await runOn('dense-only', [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ name: 'hidden_renamed', units: 64, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ name: 'out', units: 10, activation: 'softmax', kernelInitializer: init(2) }),
    ]);
    expect(index.map).toMatchObject({ layer: 'hidden_renamed', layer_index: 1, units: 64, points: 200, coords: { file: 'map.npy', shape: [200, 2] } });
    const part = await renderPart(index, 'en');
    expect(part).not.toContain('data-empty');
    expect(part).toContain('The layer hidden_renamed is the last hidden layer before the output: 64 values per image');
  });
});

describe('--map-points', () => {
  it("sets how many test images the step predicts and maps: in its fingerprint, not in the run id; 100 to 10,000", () => {
    const quick = parseCli(['--profile', 'quick'], {});
    const given = parseCli(['--profile', 'quick', '--map-points', '300'], {});
    expect(given.runId).toBe(quick.runId);
    expect([mapPoints(quick.params), mapPoints(given.params)]).toEqual([QUICK_MAP_POINTS, 300]);
    expect(mistakesStep.params(given.params)).toEqual({ seed: 42, mapPoints: 300 });
    expect(mapPoints(parseCli([], {}).params)).toBe(TEST_IMAGES);
    // An imported model is shown whole, whatever the profile default says.
    const imported = parseCli(['--model', 'best-cnn-model.keras'], {}).params;
    expect(mapPoints({ ...imported, model: { path: 'x', sha256: '0'.repeat(64), format: 'keras3', keras_version: null, date_saved: null } })).toBe(TEST_IMAGES);
    for (const bad of ['99', '10001', '1e3', 'all']) {
      expect(() => parseCli(['--map-points', bad], {}), bad).toThrow(new UsageError(`--map-points "${bad}" is not valid: give a whole number from 100 to 10000`));
    }
  });
});
