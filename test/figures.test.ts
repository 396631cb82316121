import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { colorIndex, colormapRgb, heatmapPng } from '../pipeline/render/heatmap.js';
import { buildModel } from '../pipeline/ml/model.js';
import { saveModel } from '../pipeline/catalog/model-io.js';
import { readModelSummary, summarizeModel } from '../pipeline/catalog/model-summary.js';
import { readNpy } from '../pipeline/catalog/npy.js';
import { renderSvg, svgToPng, type TopLevelSpec } from '../pipeline/render/vega.js';
import { CLASS_NAMES, type FeatureIndex, type FigureIndex, type History, type WeightStats } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { figuresStep } from '../steps/figures.js';
import { confusionSpec, perClassAccuracySpec } from '../pipeline/render/figures/evaluation.js';
import { weightHistogramSpec } from '../pipeline/render/figures/histograms.js';
import { inputChannelSlice, KERNEL_DOMAIN, kernelGridSpec, meanOverInputs } from '../pipeline/render/figures/kernels.js';
import { learningCurvesSpec } from '../pipeline/render/figures/learning-curves.js';
import { imageGridSpec, inputPanel, mapPanel } from '../pipeline/render/figures/maps.js';
import { diagramBoxes } from '../pipeline/render/figures/model-diagram.js';
import { tempDir, readJson } from './helpers.js';
import { copyTinyRun, stepContext, type ReportRun } from './helpers/report-run.js';
import { pathsOf } from './helpers/step-context.js';

/** Input for the spec builders: a book-like run of 8 epochs, best epoch 6 (REFERENCE.md). */
const HISTORY: History = {
  rows: [
    [0.5233, 0.8131, 0.3357, 0.8773],
    [0.3469, 0.8752, 0.2913, 0.8916],
    [0.2975, 0.8914, 0.2626, 0.9018],
    [0.2656, 0.9031, 0.2455, 0.909],
    [0.2431, 0.9105, 0.2367, 0.9131],
    [0.2219, 0.9178, 0.2193, 0.9201],
    [0.2052, 0.9239, 0.2283, 0.9165],
    [0.1903, 0.929, 0.2301, 0.9178],
  ].map(([loss, accuracy, val_loss, val_accuracy], i) => ({ epoch: i + 1, loss, accuracy, val_loss, val_accuracy, seconds: 61.5 + i, samples_per_s: 780 - i })),
  best_epoch: 6,
  stopped_early: true,
};

/** A 10 x 10 test confusion matrix of 1,000 images per class, 91.25% on the diagonal overall. */
function bookConfusion(): number[][] {
  const right = [860, 978, 870, 915, 872, 975, 745, 968, 982, 960];
  return right.map((r, t) => {
    const row = new Array<number>(10).fill(0);
    row[t] = r;
    // The rest spread over two neighbours (the shirt/T-shirt/pullover kind of confusion).
    const wrong = 1000 - r;
    row[(t + 1) % 10] += Math.ceil(wrong / 2);
    row[(t + 9) % 10] += Math.floor(wrong / 2);
    return row;
  });
}

// Specs are deep unions in vega-lite's types; the tests read them back as the plain JSON they are.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** A C-order [3, 3, cin, cout] kernel whose every value says where it sits. */
function labelledKernel(cin: number, cout: number): { data: Float32Array; shape: number[]; at: (i: number, j: number, c: number, k: number) => number } {
  const at = (i: number, j: number, c: number, k: number) => Math.fround(-0.7 + i * 0.3 + j * 0.1 + c * 0.001 + k * 0.02);
  const data = new Float32Array(9 * cin * cout);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < cin; c++) for (let k = 0; k < cout; k++) data[((i * 3 + j) * cin + c) * cout + k] = at(i, j, c, k);
  return { data, shape: [3, 3, cin, cout], at };
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

function decodePng(bytes: Uint8Array): PNG {
  return PNG.sync.read(Buffer.from(bytes));
}

function decodeDataUrl(url: string): PNG {
  expect(url.startsWith('data:image/png;base64,')).toBe(true);
  return PNG.sync.read(Buffer.from(url.slice('data:image/png;base64,'.length), 'base64'));
}

describe('spec builders: data in, values in the spec out', () => {
  it('draws conv2d kernels as 2 x 16 grids of 3 x 3 cells on the fixed range [-0.5, 0.5], one legend for both panels', () => {
    const trained = labelledKernel(1, 32);
    const untrained = labelledKernel(1, 32);
    const spec = kernelGridSpec([inputChannelSlice(trained, 0, 'trained'), inputChannelSlice(untrained, 0, 'untrained')], {
      title: 'conv2d',
      cols: 16,
      domain: KERNEL_DOMAIN,
    }) as Json;
    expect(spec.vconcat).toHaveLength(2);
    expect(spec.resolve).toEqual({ scale: { color: 'shared' }, legend: { color: 'shared' } });
    for (const panel of spec.vconcat) {
      const cells = panel.data.values;
      expect(cells).toHaveLength(288);
      for (const c of cells) expect(close(c.value, trained.at(c.i, c.j, 0, c.filter))).toBe(true);
      // 2 rows x 16 columns of kernels, 12 px cells with 6 px gaps
      expect(new Set(cells.map((c: Json) => c.filter)).size).toBe(32);
      const k17 = cells.find((c: Json) => c.filter === 17 && c.i === 0 && c.j === 0);
      expect([k17.x, k17.y]).toEqual([1 * 42, 42]);
      expect([panel.width, panel.height]).toEqual([16 * 42 - 6, 2 * 42 - 6]);
      const color = panel.encoding.color;
      expect(color.scale).toEqual({ scheme: 'viridis', domain: [-0.5, 0.5], clamp: true });
      expect(color.field).toBe('value');
    }
    // Values beyond the colour range stay in the data (the colour clamps, as imshow's vmin/vmax).
    expect(Math.min(...spec.vconcat[0].data.values.map((c: Json) => c.value))).toBeLessThan(-0.5);
  });

  it('shows conv2d_1 as per-filter means over the 32 input channels, 8 x 8, on a symmetric shared range', () => {
    const k = labelledKernel(32, 64);
    const panel = meanOverInputs(k, 'trained');
    expect(panel.filters).toBe(64);
    // mean over c of (-0.7 + 0.3i + 0.1j + 0.001c + 0.02k) = the value at c = 15.5
    const expected = (i: number, j: number, f: number) => -0.7 + i * 0.3 + j * 0.1 + 0.0155 + f * 0.02;
    for (const [i, j, f] of [[0, 0, 0], [2, 1, 63], [1, 2, 30]]) expect(Math.abs(panel.values[(i * 3 + j) * 64 + f] - expected(i, j, f))).toBeLessThan(1e-5);
    const spec = kernelGridSpec([panel], { title: 't', cols: 8, domain: [-1.5, 1.5], direction: 'row' }) as Json;
    expect(spec.hconcat[0].data.values).toHaveLength(64 * 9);
    expect(spec.hconcat[0].height).toBe(8 * 42 - 6);
  });

  it('overlays trained and untrained histograms on the same bins, with the Glorot limit', () => {
    const edges = [-0.3, -0.1, 0.1, 0.3];
    const spec = weightHistogramSpec([{ layer: 'conv2d', trained: { edges, counts: [5, 20, 7] }, untrained: { edges, counts: [0, 32, 0] }, glorotLimit: 0.142 }]) as Json;
    const [bars, rules] = spec.hconcat[0].layer;
    expect(bars.data.values).toEqual([
      { layer: 'conv2d', model: 'trained', lo: -0.3, hi: -0.1, count: 5 },
      { layer: 'conv2d', model: 'trained', lo: -0.1, hi: 0.1, count: 20 },
      { layer: 'conv2d', model: 'trained', lo: 0.1, hi: 0.3, count: 7 },
      { layer: 'conv2d', model: 'untrained', lo: -0.3, hi: -0.1, count: 0 },
      { layer: 'conv2d', model: 'untrained', lo: -0.1, hi: 0.1, count: 32 },
      { layer: 'conv2d', model: 'untrained', lo: 0.1, hi: 0.3, count: 0 },
    ]);
    expect(bars.encoding.y.stack).toBeNull();
    expect(rules.data.values).toEqual([{ limit: -0.142 }, { limit: 0.142 }]);
  });

  it('plots loss and accuracy per epoch for train and validation, with the best epoch marked', () => {
    const spec = learningCurvesSpec(HISTORY) as Json;
    const [loss, accuracy] = spec.hconcat;
    const lossPoints = loss.layer[0].data.values;
    expect(lossPoints).toHaveLength(16);
    expect(lossPoints.find((p: Json) => p.epoch === 6 && p.split === 'validation').value).toBe(0.2193);
    expect(accuracy.layer[0].data.values.find((p: Json) => p.epoch === 8 && p.split === 'train').value).toBe(0.929);
    expect(loss.layer[1].data.values).toEqual([{ epoch: 6, label: 'best epoch 6' }]);
    expect(spec.title).toContain('best epoch 6');
  });

  it('fills the confusion matrix with counts and row shares, classes in label order', () => {
    const confusion = bookConfusion();
    const spec = confusionSpec(confusion, CLASS_NAMES.en) as Json;
    const cells = spec.data.values;
    expect(cells).toHaveLength(100);
    expect(cells.find((c: Json) => c.true_class === 'Shirt' && c.predicted === 'Shirt')).toEqual({ true_class: 'Shirt', predicted: 'Shirt', count: 745, rate: 0.745 });
    expect(cells.reduce((n: number, c: Json) => n + c.count, 0)).toBe(10_000);
    expect(spec.encoding.x.sort).toEqual([...CLASS_NAMES.en]);
    expect(spec.encoding.y.sort).toEqual([...CLASS_NAMES.en]);
    const bars = perClassAccuracySpec([0.5, 1, 0.25, 0, 0, 0, 0, 0, 0, 0.9], CLASS_NAMES.ko) as Json;
    expect(bars.data.values[0]).toEqual({ class_name: '티셔츠', accuracy: 0.5 });
    expect(bars.data.values[9]).toEqual({ class_name: '앵클 부츠', accuracy: 0.9 });
    expect(() => confusionSpec([[1]], CLASS_NAMES.en)).toThrow(/10 x 10/);
  });

  it('colours every map over its own range with viridis and the input in reversed grey, one PNG tile per map', () => {
    // [1, 2, 2, 3]: channel c holds values c * 10 + (0, 1, 2, 3)
    const data = new Float32Array(12);
    for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = c * 10 + p;
    const panel = mapPanel({ data, shape: [1, 2, 2, 3] }, 'maps', 3, 4);
    const spec = imageGridSpec('t', [panel]) as Json;
    const tiles = spec.data.values;
    expect(tiles.map((t: Json) => [t.index, t.min, t.max, t.x, t.y])).toEqual([
      [0, 0, 3, 0, 0],
      [1, 10, 13, 10, 0],
      [2, 20, 23, 20, 0],
    ]);
    expect(spec.mark).toMatchObject({ type: 'image', width: 8, height: 8, smooth: false });
    for (const t of tiles) {
      const png = decodeDataUrl(t.url);
      expect([png.width, png.height]).toEqual([2, 2]);
      // own range: every map goes from the first viridis colour to the last
      expect([...png.data.subarray(0, 3)]).toEqual([68, 1, 84]);
      expect([...png.data.subarray(12, 15)]).toEqual([253, 231, 37]);
    }
    const image = inputPanel({ data: Float32Array.from([0, 0.5, 1, 0.25]), shape: [2, 2] }, 'input', 8);
    const gray = decodeDataUrl((imageGridSpec('input', [image]) as Json).data.values[0].url);
    expect([0, 1, 2, 3].map((p) => gray.data[p * 4])).toEqual([255, 127, 0, 191]);
  });

  it('matches matplotlib: Normalize clips, a flat map takes the first colour, viridis ends at #440154 and #fde725', () => {
    expect(colorIndex(-5, 0, 1)).toBe(0);
    expect(colorIndex(5, 0, 1)).toBe(255);
    expect(colorIndex(0.5, 0, 1)).toBe(128);
    expect(colorIndex(3, 3, 3)).toBe(0);
    expect(colormapRgb('viridis', 0)).toEqual([0x44, 0x01, 0x54]);
    expect(colormapRgb('viridis', 255)).toEqual([0xfd, 0xe7, 0x25]);
    expect(colormapRgb('gray_r', 0)).toEqual([255, 255, 255]);
    const flat = decodePng(heatmapPng(new Float32Array(4).fill(2), 2, 2, { colormap: 'viridis', min: 2, max: 2 }));
    expect([...flat.data.subarray(0, 3)]).toEqual([68, 1, 84]);
    expect(() => heatmapPng(new Float32Array(5), 2, 2, { colormap: 'viridis', min: 0, max: 1 })).toThrow(/5 values/);
  });
});

describe('layer table from model.json', () => {
  let dir: string;
  beforeAll(async () => {
    await initTf('cpu');
    dir = tempDir('cnn-lens-model-');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("gives the book's layers with TensorFlow.js's own output shapes and parameter counts, 333,526 in all", async () => {
    const model = buildModel(7);
    await saveModel(model, join(dir, 'model.json'));
    const summary = await readModelSummary(join(dir, 'model.json'));
    expect(summary.input_shape).toEqual([28, 28, 1]);
    expect(summary.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(summary.layers.map((l) => l.type)).toEqual(model.layers.map((l) => l.getClassName()));
    expect(summary.layers.map((l) => l.output_shape)).toEqual(model.layers.map((l) => (l.outputShape as number[]).slice(1)));
    expect(summary.layers.map((l) => l.params)).toEqual(model.layers.map((l) => l.countParams()));
    expect(summary.total_params).toBe(333_526);
    model.dispose();
    const boxes = diagramBoxes(summary);
    expect(boxes).toHaveLength(9);
    expect(boxes[1].label).toBe('conv2d (Conv2D)  28 × 28 × 32 · 320 params');
    expect(boxes[1].x2 - boxes[1].x).toBeGreaterThan(boxes[8].x2 - boxes[8].x);
  });

  it('names model.json when it cannot make the table', async () => {
    expect(() => summarizeModel({ modelTopology: {} }, '/x/model.json')).toThrow(BadInputError);
    expect(() => summarizeModel({ modelTopology: {} }, '/x/model.json')).toThrow(/\/x\/model\.json has no layer list/);
    const odd = { modelTopology: { config: { layers: [{ class_name: 'LSTM', config: { name: 'lstm', batch_input_shape: [null, 28, 28] } }] } } };
    expect(() => summarizeModel(odd, '/x/model.json')).toThrow(/layer lstm has type LSTM/);
    await writeFile(join(dir, 'broken.json'), '{"modelTopology": ');
    await expect(readModelSummary(join(dir, 'broken.json'))).rejects.toThrow(BadInputError);
  });
});

describe('rendering', () => {
  const spec = (): TopLevelSpec =>
    kernelGridSpec([inputChannelSlice(labelledKernel(1, 32), 0, 'trained')], { title: 'conv2d', cols: 16, domain: KERNEL_DOMAIN });

  it('gives an SVG that parses, with its size on the root and ids prefixed by the figure name', async () => {
    const { svg, width, height } = await renderSvg(spec(), 'kernels-conv2d');
    expect(svg.startsWith('<svg ')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(width).toBeGreaterThan(16 * 42 - 6);
    expect(height).toBeGreaterThan(2 * 42 - 6);
    expect(svg).toContain(`viewBox="0 0 ${width} ${height}"`);
    // resvg is a real SVG parser: it rejects malformed markup and reads the same size
    const parsed = new Resvg(svg);
    expect([parsed.width, parsed.height]).toEqual([width, height]);
    // the legend's gradient: its id and every reference to it carry the prefix
    const ids = [...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id.startsWith('kernels-conv2d-')).toBe(true);
    for (const m of svg.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(m[1]);
    expect(() => new Resvg('<svg xmlns="http://www.w3.org/2000/svg"><rect></svg>')).toThrow();
  });

  it('rasterizes to a PNG twice the SVG size', async () => {
    const { svg, width, height } = await renderSvg(spec(), 'k');
    const png = svgToPng(svg);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const img = decodePng(png);
    expect([img.width, img.height]).toEqual([Math.ceil(width * 2), Math.ceil(height * 2)]);
  });

  it('is deterministic: the same spec gives the same bytes, whatever was rendered before', async () => {
    const a = await renderSvg(spec(), 'k');
    await renderSvg(learningCurvesSpec(HISTORY), 'curves');
    const b = await renderSvg(spec(), 'k');
    expect(b.svg).toBe(a.svg);
    expect(Buffer.from(svgToPng(b.svg)).equals(Buffer.from(svgToPng(a.svg)))).toBe(true);
  });

  it('escapes text from the data and refuses anything but data: URLs', async () => {
    const names = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', ...CLASS_NAMES.en.slice(2)];
    const { svg } = await renderSvg(confusionSpec(bookConfusion(), names), 'confusion');
    expect(svg).not.toContain('<script');
    expect(svg).not.toContain('<img');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const remote = { data: { url: 'https://example.com/data.json' }, mark: 'point' } as TopLevelSpec;
    await expect(renderSvg(remote, 'remote')).rejects.toThrow(/may only reference data: URLs/);
    await expect(renderSvg(spec(), '../evil')).rejects.toThrow(/figure name/);
  });
});

describe('figures step on a run folder', () => {
  let run: ReportRun;
  let store: RunStore;
  let index: FigureIndex;

  beforeAll(async () => {
    run = await copyTinyRun('figures');
    store = run.store;
    await figuresStep.run(stepContext(figuresStep, run.params, store));
    index = await readJson<FigureIndex>(store.figures.index.path);
  });
  afterAll(async () => run?.cleanup());

  it('declares what it reads and writes, and its params', () => {
    expect(figuresStep.params(run.params)).toEqual({ lang: 'en' });
    expect(pathsOf(figuresStep.inputs(store))).toEqual([
      store.history.path,
      store.metrics.path,
      store.model.modelJson,
      join(store.runDir, 'weights'),
      join(store.runDir, 'feature-maps'),
      join(store.runDir, 'filter-patterns'),
      join(store.runDir, 'attention'),
      join(store.runDir, 'mistakes'),
      join(store.runDir, 'own-images'),
    ]);
    expect(pathsOf(figuresStep.outputs(store))).toEqual([join(store.runDir, 'figures')]);
    expect(figuresStep.staged).not.toBe(false);
  });

  it('writes every figure of the chapter as spec, SVG and PNG, listed in index.json with titles and sizes', async () => {
    const names = index.figures.map((f) => f.name);
    const features = await readJson<FeatureIndex>(store.featureMaps.index.path);
    const testIds = features.samples.filter((s) => s.split === 'test').map((s) => `class-${s.id}`);
    expect(testIds).toHaveLength(10);
    expect(names).toEqual([
      'model',
      'weight-histograms',
      'kernels-conv2d',
      'kernels-conv2d_1',
      'input-train-0',
      'maps-train-0-conv2d',
      'maps-train-0-max_pooling2d',
      'maps-train-0-conv2d_1',
      'maps-train-0-max_pooling2d_1',
      ...testIds,
      'filter-patterns-conv2d',
      'filter-patterns-conv2d_1',
      ...features.samples.map((s) => `attention-${s.id}`),
      'mistakes',
      'mistakes-map',
      'learning-curves',
      'confusion',
      'per-class-accuracy',
    ]);
    const files = (await readdir(store.figures.dir)).sort();
    expect(files).toEqual([...names.flatMap((n) => [`${n}.png`, `${n}.svg`, `${n}.vl.json`]), 'index.json'].sort());
    for (const f of index.figures) {
      expect(f.title.length).toBeGreaterThan(5);
      const svg = await readFile(join(store.figures.dir, `${f.name}.svg`), 'utf8');
      const png = decodePng(await readFile(join(store.figures.dir, `${f.name}.png`)));
      expect(f.bytes.svg).toBe(Buffer.byteLength(svg));
      expect(new RegExp(`^<svg [^>]*width="${f.width}" height="${f.height}"`).test(svg)).toBe(true);
      expect([png.width, png.height]).toEqual([Math.ceil(f.width * 2), Math.ceil(f.height * 2)]);
      const spec = JSON.parse(await readFile(join(store.figures.dir, `${f.name}.vl.json`), 'utf8'));
      expect(spec.$schema).toBe('https://vega.github.io/schema/vega-lite/v6.json');
    }
    expect(index.figures.find((f) => f.name === 'maps-train-0-conv2d')).toMatchObject({ kind: 'feature-maps', sample: 'train-0', layer: 'conv2d' });
  });

  it("draws the run's own kernels: the conv2d spec holds the trained and untrained kernel.npy values", async () => {
    const stats = await readJson<WeightStats>(store.weights.index.path);
    const spec = JSON.parse(await readFile(join(store.figures.dir, 'kernels-conv2d.vl.json'), 'utf8'));
    for (const [p, kind] of (['trained', 'untrained'] as const).entries()) {
      const kernel = await readNpy(store.weights.file(stats[kind].conv2d.kernel.file));
      const cells = spec.vconcat[p].data.values;
      expect(cells).toHaveLength(288);
      for (const c of cells) expect(close(c.value, kernel.data[(c.i * 3 + c.j) * 32 + c.filter])).toBe(true);
    }
    expect(spec.vconcat[0].encoding.color.scale.domain).toEqual([-0.5, 0.5]);
  });

  it('draws each feature map from its .npy: 32 conv2d maps of 28 x 28, trained beside untrained, each over its own range', async () => {
    const features = await readJson<FeatureIndex>(store.featureMaps.index.path);
    const spec = JSON.parse(await readFile(join(store.figures.dir, 'maps-train-0-conv2d.vl.json'), 'utf8'));
    expect(spec.hconcat).toHaveLength(2);
    const maps = [features.samples[0].layers[0], features.untrained.layers[0]];
    for (const [p, layer] of maps.entries()) {
      expect(layer.layer).toBe('conv2d');
      const tensor = await readNpy(store.featureMaps.file(layer.file));
      const tiles = spec.hconcat[p].data.values;
      expect(tiles).toHaveLength(32);
      for (const c of [0, 5, 31]) {
        const tile = tiles[c];
        const png = decodeDataUrl(tile.url);
        expect([png.width, png.height]).toEqual([28, 28]);
        const { min, max } = layer.channels[c];
        expect(close(tile.min, min) && close(tile.max, max)).toBe(true);
        for (const pixel of [0, 14 * 28 + 14, 783]) {
          const v = tensor.data[pixel * 32 + c];
          expect([...png.data.subarray(pixel * 4, pixel * 4 + 3)]).toEqual(colormapRgb('viridis', colorIndex(v, min, max)));
        }
      }
    }
    const second = JSON.parse(await readFile(join(store.figures.dir, 'maps-train-0-conv2d_1.vl.json'), 'utf8'));
    expect(second.data.values).toHaveLength(64);
    expect(decodeDataUrl(second.data.values[0].url).width).toBe(14);
  });

  it('is byte-identical when run again on the same artifacts', async () => {
    const again = join(run.root, 'figures-again');
    await figuresStep.run(stepContext(figuresStep, run.params, store.withStaging('figures', again)));
    const files = (await readdir(store.figures.dir)).sort();
    expect((await readdir(again)).sort()).toEqual(files);
    for (const f of files) expect((await readFile(join(again, f))).equals(await readFile(join(store.figures.dir, f)))).toBe(true);
  });

  it('names the artifact at fault when one is missing or inconsistent', async () => {
    const bad = new RunStore(join(run.root, 'artifacts'), store.runId).withStaging('figures', join(run.root, 'figures-bad'));
    const features = await readJson<FeatureIndex>(store.featureMaps.index.path);
    const index = structuredClone(features);
    index.samples[0].layers[0].shape = [1, 14, 14, 32];
    const original = await readFile(store.featureMaps.index.path);
    await writeFile(store.featureMaps.index.path, JSON.stringify(index));
    try {
      await expect(figuresStep.run(stepContext(figuresStep, run.params, bad))).rejects.toThrow(
        new RegExp(`${store.featureMaps.file('train-0/conv2d.npy').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has shape \\[1, 28, 28, 32\\] but its index says \\[1, 14, 14, 32\\]`),
      );
      await rm(store.featureMaps.index.path);
      const err = await figuresStep.run(stepContext(figuresStep, run.params, bad)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toContain(`missing ${store.featureMaps.index.path}`);
    } finally {
      await writeFile(store.featureMaps.index.path, original);
    }
  });
});
