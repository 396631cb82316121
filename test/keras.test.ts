/**
 * Keras model files (pipeline/catalog/keras): the book's own models, written by Keras 3.4.1 and
 * tf.keras 2.4.0 / 2.9.0, import into TensorFlow.js and compute what an independent h5py + PyTorch
 * reference computed (test/fixtures/keras/expected.json); the export of the imported Keras 3 file
 * equals that file apart from a short, listed set of keys; our own models survive an export and
 * import bit for bit; every kind of bad file is refused naming the file and the fix.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import h5wasm from 'h5wasm/node';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadFashionMnist, PIXELS, type ImageSet } from '../pipeline/catalog/dataset.js';
import { exportKeras, importModel, inspectModelFile } from '../pipeline/catalog/keras/index.js';
import { kerasDate } from '../pipeline/catalog/keras/export.js';
import { saveModel } from '../pipeline/catalog/model-io.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { sha256 } from '../pipeline/core/hash.js';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import { buildModel } from '../pipeline/ml/model.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { python, tempDir } from './helpers.js';
import { datasetDir } from './helpers/fixture-run.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/keras/', import.meta.url));
const BOOK = join(FIXTURES, 'book-keras-3.4.1.keras');

interface Expected {
  layers: string[];
  kernel_stats: Record<string, { shape: number[]; mean: number; std: number }>;
  test_accuracy: number;
  test_probs_0_9: number[][];
  train0_feature_maps: Record<string, { shape: number[]; sum: number; max: number }>;
}
const EXPECTED = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, Expected>;

const CASES = [
  { file: 'book-keras-3.4.1.keras', format: 'keras3', keras_version: '3.4.1', date_saved: '2024-08-06@07:21:23' },
  { file: 'book-keras-2.4.0.h5', format: 'keras2-h5', keras_version: '2.4.0', date_saved: null },
  { file: 'book-keras-2.9.0.h5', format: 'keras2-h5', keras_version: '2.9.0', date_saved: null },
] as const;

let data: { train: ImageSet; test: ImageSet };

beforeAll(async () => {
  await initTf('wasm');
  data = await loadFashionMnist(datasetDir());
});

/** Images `start..start+count` of a split as the pipeline feeds them: [N, 28, 28, 1], pixels / 255. */
function images(set: ImageSet, start: number, count: number, shape: number[] = [28, 28, 1]): tf.Tensor {
  const pixels = Float32Array.from(set.images.subarray(start * PIXELS, (start + count) * PIXELS), (v) => v / 255);
  return tf.tensor(pixels, [count, ...shape]);
}

/** Mean and population std accumulated in float64. */
function meanStd(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

const bytesOf = (t: tf.Tensor): Buffer => {
  const d = t.dataSync() as Float32Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};

function predictBytes(model: tf.LayersModel, x: tf.Tensor): Buffer {
  const y = model.predict(x) as tf.Tensor;
  const out = Buffer.from(bytesOf(y));
  y.dispose();
  return out;
}

/** The message of the BadInputError `p` rejects with (fails the test for anything else). */
async function badInput(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BadInputError);
  return (err as Error).message;
}

describe.each(CASES)('$file, as Keras saved it', (c) => {
  const path = join(FIXTURES, c.file);
  const expected = EXPECTED[c.file];

  it('inspects: format, Keras version, date saved and the SHA-256 that sha256sum prints', async () => {
    const source = await inspectModelFile(path);
    const sum = execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0];
    expect(source).toEqual({ path, sha256: sum, format: c.format, keras_version: c.keras_version, date_saved: c.date_saved });
  });

  it("imports with the file's layers and weights: kernel statistics, test 0-9 probabilities and train-0 feature maps equal the reference", async () => {
    const { model, source } = await importModel(path);
    expect(source.format).toBe(c.format);
    expect(model.layers.map((l) => l.getClassName()).filter((n) => n !== 'InputLayer')).toEqual(expected.layers);
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1]);

    for (const [name, ref] of Object.entries(expected.kernel_stats)) {
      const kernel = model.getLayer(name).getWeights()[0];
      expect(kernel.shape, name).toEqual(ref.shape);
      const { mean, std } = meanStd(kernel.dataSync() as Float32Array);
      expect(Math.abs(mean - ref.mean), `${name} mean ${mean}`).toBeLessThanOrEqual(1e-7);
      expect(Math.abs(std - ref.std), `${name} std ${std}`).toBeLessThanOrEqual(1e-7);
    }

    const x = images(data.test, 0, 10);
    const probs = (model.predict(x) as tf.Tensor).arraySync() as number[][];
    probs.forEach((row, i) => row.forEach((p, k) => expect(Math.abs(p - expected.test_probs_0_9[i][k]), `test ${i} class ${k}: ${p}`).toBeLessThanOrEqual(1e-5)));

    // The chapter's feature-map models, built with the functional API on the imported model.
    const boot = images(data.train, 0, 1);
    for (const [name, ref] of Object.entries(expected.train0_feature_maps)) {
      const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer(name).output as tf.SymbolicTensor });
      const maps = sub.predict(boot) as tf.Tensor;
      expect(maps.shape, name).toEqual(ref.shape);
      const values = maps.dataSync() as Float32Array;
      let sum = 0;
      let max = -Infinity;
      for (const v of values) {
        sum += v;
        max = Math.max(max, v);
      }
      expect(Math.abs(sum - ref.sum), `${name} sum ${sum}`).toBeLessThanOrEqual(1e-3);
      expect(Math.abs(max - ref.max), `${name} max ${max}`).toBeLessThanOrEqual(1e-5);
      maps.dispose();
    }
    tf.dispose([x, boot]);
    model.dispose();
  });

  // The 10,000 test images classified as the reference does (within one image): test/import.test.ts
  // asserts that for each file, from the test accuracy the checkpoint step computes on this import
  // (the same model on the same backend; 7 s a file to compute it again here).
});

interface H5Node {
  path: string;
  kind: 'group' | 'dataset';
  attrs: string[];
  dtype?: string;
  shape?: number[];
  bytes?: Buffer;
}

/** Every group and dataset of an HDF5 file as h5wasm sees it, sorted by path. */
function h5Tree(file: string): H5Node[] {
  const f = new h5wasm.File(file, 'r');
  const out: H5Node[] = [];
  const walk = (g: InstanceType<typeof h5wasm.Group>, prefix: string): void => {
    for (const key of g.keys()) {
      const path = prefix ? `${prefix}/${key}` : key;
      const e = g.get(key);
      if (e instanceof h5wasm.Group) {
        out.push({ path, kind: 'group', attrs: Object.keys(e.attrs).sort() });
        walk(e, path);
      } else if (e instanceof h5wasm.Dataset) {
        // Weights are float32 arrays; the optimizer's iteration count is an int64 scalar (a bigint).
        const v = e.value;
        const bytes = ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(String(v));
        out.push({ path, kind: 'dataset', attrs: Object.keys(e.attrs).sort(), dtype: String(e.dtype), shape: e.shape ?? [], bytes });
      }
    }
  };
  walk(f, '');
  f.close();
  // Code-point order, as Python's sorted() gives.
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The same tree as Debian's h5py reads it: path, kind, dtype, shape and SHA-256 of the data bytes. */
function h5pyTree(file: string): { path: string; kind: string; dtype: string | null; shape: number[] | null; sha256: string | null; attrs: string[] }[] {
  const code = `
import h5py, hashlib, json, sys
out = []
def visit(name, o):
    if isinstance(o, h5py.Dataset):
        out.append(dict(path=name, kind='dataset', dtype=str(o.dtype), shape=list(o.shape), sha256=hashlib.sha256(o[()].tobytes()).hexdigest(), attrs=sorted(o.attrs.keys())))
    else:
        out.append(dict(path=name, kind='group', dtype=None, shape=None, sha256=None, attrs=sorted(o.attrs.keys())))
with h5py.File(sys.argv[1], 'r') as f:
    out.append(dict(path='/', kind='group', dtype=None, shape=None, sha256=None, attrs=sorted(f.attrs.keys())))
    f.visititems(visit)
print(json.dumps(sorted(out, key=lambda d: d['path'])))
`;
  return JSON.parse(python(code, [file])) as ReturnType<typeof h5pyTree>;
}

/** The entries of a zip file, in archive order. */
const zipEntries = (file: string): Record<string, Uint8Array> => unzipSync(readFileSync(file));

/** Extracts one entry of a zip to `dir` and returns its path. */
function extract(file: string, entry: string, dir: string, as = entry): string {
  const out = join(dir, as);
  writeFileSync(out, zipEntries(file)[entry]);
  return out;
}

/**
 * The keys of config.json the export does not reproduce, each with why:
 * - `shared_object_id`: the id() of a Python object (the model's DTypePolicy) in the process that
 *   saved the file; it only lets Keras share that object on load and is optional.
 * - `compile_config`: the optimizer, loss and metrics to compile with. The export carries no
 *   optimizer (no optimizer variables either), so Keras loads the model uncompiled.
 */
const NOT_EXPORTED = { anywhere: ['shared_object_id'], topLevel: ['compile_config'] };

function withoutKeys(value: unknown, top = true): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutKeys(v, false));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !NOT_EXPORTED.anywhere.includes(k) && !(top && NOT_EXPORTED.topLevel.includes(k)))
        .map(([k, v]) => [k, withoutKeys(v, false)]),
    );
  }
  return value;
}

describe('export to Keras 3 (.keras)', () => {
  const dir = tempDir('cnn-lens-keras-export-');
  const exported = join(dir, 'book-export.keras');
  const saved = new Date(2024, 7, 6, 7, 21, 23);

  beforeAll(async () => {
    const { model } = await importModel(BOOK);
    await exportKeras(model, exported, { dateSaved: saved });
    model.dispose();
  });

  it('writes the fixture\'s zip entries, stored, with metadata.json\'s keras_version and date_saved', () => {
    expect(Object.keys(zipEntries(exported))).toEqual(['metadata.json', 'config.json', 'model.weights.h5']);
    const listing = execFileSync('unzip', ['-v', exported], { encoding: 'utf8' });
    expect(listing.match(/ Stored /g)).toHaveLength(3);
    const meta = JSON.parse(strFromU8(zipEntries(exported)['metadata.json'])) as Record<string, unknown>;
    expect(meta).toEqual({ keras_version: '3.4.1', date_saved: '2024-08-06@07:21:23' });
    expect(kerasDate(new Date(2025, 0, 2, 3, 4, 5))).toBe('2025-01-02@03:04:05');
  });

  it("config.json equals the fixture's apart from the listed keys", () => {
    const ours = JSON.parse(strFromU8(zipEntries(exported)['config.json'])) as Record<string, unknown>;
    const book = JSON.parse(strFromU8(zipEntries(BOOK)['config.json'])) as Record<string, unknown>;
    // The listed keys are really there in the fixture, and nowhere in the export.
    expect(Object.keys(book)).toContain('compile_config');
    expect(JSON.stringify(book)).toContain('"shared_object_id"');
    expect(withoutKeys(ours)).toEqual(ours);
    expect(ours).toEqual(withoutKeys(book));
  });

  it("model.weights.h5 holds the fixture's groups and datasets bit for bit, no optimizer, as h5wasm and h5py both read it", () => {
    const ourH5 = extract(exported, 'model.weights.h5', dir, 'ours.weights.h5');
    const bookH5 = extract(BOOK, 'model.weights.h5', dir, 'book.weights.h5');
    const ours = h5Tree(ourH5);
    const book = h5Tree(bookH5).filter((n) => n.path !== 'optimizer' && !n.path.startsWith('optimizer/'));
    expect(h5Tree(bookH5).some((n) => n.path === 'optimizer/vars/0')).toBe(true);
    expect(ours.map((n) => n.path)).toEqual(book.map((n) => n.path));
    expect(ours.some((n) => n.path.startsWith('optimizer'))).toBe(false);
    // Weightless layers keep their empty vars group, and the model its own.
    for (const empty of ['vars', 'layers/flatten/vars', 'layers/dropout/vars', 'layers/max_pooling2d/vars', 'layers/max_pooling2d_1/vars']) {
      expect(ours.find((n) => n.path === empty)?.kind, empty).toBe('group');
    }
    ours.forEach((n, i) => {
      const b = book[i];
      expect({ kind: n.kind, attrs: n.attrs, dtype: n.dtype, shape: n.shape }, n.path).toEqual({ kind: b.kind, attrs: b.attrs, dtype: b.dtype, shape: b.shape });
      if (n.kind === 'dataset') expect(n.bytes!.equals(b.bytes!), `${n.path} bytes`).toBe(true);
    });
    expect(ours.filter((n) => n.kind === 'dataset')).toHaveLength(8);

    // Debian's h5py (HDF5 1.10) reads the export, and sees what h5wasm sees.
    const viaPython = h5pyTree(ourH5);
    expect(viaPython.map((n) => n.path)).toEqual(['/', ...ours.map((n) => n.path)]);
    expect(viaPython[0].attrs).toEqual([]);
    for (const n of ours) {
      const p = viaPython.find((q) => q.path === n.path)!;
      expect(p.kind, n.path).toBe(n.kind);
      expect(p.attrs, n.path).toEqual(n.attrs);
      if (n.kind === 'dataset') {
        expect(p.dtype, n.path).toBe('float32');
        expect(p.shape, n.path).toEqual(n.shape);
        expect(p.sha256, n.path).toBe(sha256(n.bytes!));
      }
    }
    // ... and the fixture's datasets through h5py have the same digests as ours.
    const bookViaPython = h5pyTree(bookH5);
    for (const p of viaPython.filter((q) => q.kind === 'dataset')) expect(bookViaPython.find((q) => q.path === p.path)?.sha256, p.path).toBe(p.sha256);
  });

  it('imports back to the same weights and predictions', async () => {
    const [a, b] = [await importModel(BOOK), await importModel(exported)];
    expect(b.model.layers.map((l) => l.name)).toEqual(a.model.layers.map((l) => l.name));
    a.model.getWeights().forEach((w, i) => expect(bytesOf(b.model.getWeights()[i]).equals(bytesOf(w))).toBe(true));
    const x = images(data.test, 0, 16);
    expect(predictBytes(b.model, x).equals(predictBytes(a.model, x))).toBe(true);
    tf.dispose([x]);
    a.model.dispose();
    b.model.dispose();
  });
});

describe('round trips through .keras', () => {
  const dir = tempDir('cnn-lens-keras-roundtrip-');

  it('the same model and date give the same bytes, whatever the clock says while writing (HDF5 stamps headers with it)', async () => {
    const model = buildModel(3);
    const saved = new Date(1980, 0, 1);
    const [a, b] = [join(dir, 'same-a.keras'), join(dir, 'same-b.keras')];
    await exportKeras(model, a, { dateSaved: saved });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date(2031, 5, 7, 12, 34, 56));
      await exportKeras(model, b, { dateSaved: saved });
    } finally {
      vi.useRealTimers();
    }
    model.dispose();
    expect(sha256(readFileSync(b))).toBe(sha256(readFileSync(a)));
  });

  it("the project's own CNN (buildModel): names, every weight bit for bit, identical predictions", async () => {
    const original = buildModel(7);
    const file = join(dir, 'own.keras');
    await exportKeras(original, file);
    const meta = JSON.parse(strFromU8(zipEntries(file)['metadata.json'])) as { keras_version: string; date_saved: string };
    expect(meta.keras_version).toBe('3.4.1');
    expect(meta.date_saved).toMatch(/^\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d$/);

    const { model, source } = await importModel(file);
    expect(source).toMatchObject({ format: 'keras3', keras_version: '3.4.1', date_saved: meta.date_saved, sha256: sha256(readFileSync(file)) });
    expect(model.layers.map((l) => `${l.name}:${l.getClassName()}`)).toEqual(original.layers.map((l) => `${l.name}:${l.getClassName()}`));
    const [ow, mw] = [original.getWeights(), model.getWeights()];
    expect(mw).toHaveLength(8);
    ow.forEach((w, i) => {
      expect(mw[i].shape).toEqual(w.shape);
      expect(bytesOf(mw[i]).equals(bytesOf(w)), `weight ${i}`).toBe(true);
    });
    const x = images(data.test, 0, 8);
    expect(predictBytes(model, x).equals(predictBytes(original, x))).toBe(true);
    x.dispose();
    // The imported model's own topology rebuilds in TensorFlow.js (what a saved model.json needs).
    const rebuilt = await tf.models.modelFromJSON({ modelTopology: model.toJSON(null, false) } as tf.io.ModelJSON);
    expect(rebuilt.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    original.dispose();
    model.dispose();
    rebuilt.dispose();
  });

  it('a dense-only model with a (28, 28) input (chapter 7) keeps that input in Keras, keys its weights by class, predicts the same', async () => {
    const net = tf.sequential({ name: 'chapter7' });
    net.add(tf.layers.flatten({ name: 'flatten_3', inputShape: [28, 28] }));
    net.add(tf.layers.dense({ name: 'dense_10', units: 100, activation: 'relu' }));
    net.add(tf.layers.dropout({ name: 'dropout_2', rate: 0.3 }));
    net.add(tf.layers.dense({ name: 'dense_11', units: 10, activation: 'softmax' }));
    const file = join(dir, 'dense.keras');
    await exportKeras(net, file);

    const config = JSON.parse(strFromU8(zipEntries(file)['config.json'])) as {
      config: { layers: { class_name: string; config: Record<string, unknown>; build_config?: { input_shape: unknown } }[]; build_input_shape: unknown };
      build_config: { input_shape: unknown };
    };
    expect(config.config.layers[0]).toMatchObject({ class_name: 'InputLayer', config: { batch_shape: [null, 28, 28], name: 'flatten_3_input' } });
    expect(config.config.layers[1].build_config).toEqual({ input_shape: [null, 28, 28] });
    expect(config.config.build_input_shape).toEqual([null, 28, 28]);
    expect(config.build_config).toEqual({ input_shape: [null, 28, 28] });
    expect(config.config.layers.map((l) => l.config.name)).toEqual(['flatten_3_input', 'flatten_3', 'dense_10', 'dropout_2', 'dense_11']);
    // Keras 3 finds a layer's weights by its class, numbered per class, not by its name.
    const datasets = h5pyTree(extract(file, 'model.weights.h5', dir, 'dense.weights.h5'))
      .filter((n) => n.kind === 'dataset')
      .map((n) => `${n.path} ${n.shape!.join('x')}`);
    expect(datasets).toEqual(['layers/dense/vars/0 784x100', 'layers/dense/vars/1 100', 'layers/dense_1/vars/0 100x10', 'layers/dense_1/vars/1 10']);

    const { model } = await importModel(file);
    // The pipeline feeds [N, 28, 28, 1]: the import takes that, and Flatten gives the same vector.
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1]);
    expect(model.layers.map((l) => l.name)).toEqual(['flatten_3', 'dense_10', 'dropout_2', 'dense_11']);
    const x = images(data.test, 0, 8, [28, 28]);
    const x4 = x.reshape([8, 28, 28, 1]);
    expect(predictBytes(model, x4).equals(predictBytes(net, x))).toBe(true);
    tf.dispose([x, x4]);
    net.dispose();
    model.dispose();
  });

  it('a Functional model (other filter counts, strides, valid padding, Reshape, tanh, sigmoid) round-trips', async () => {
    const input = tf.input({ shape: [28, 28, 1], name: 'image' });
    let t = tf.layers.conv2d({ name: 'conv_a', filters: 6, kernelSize: 5, strides: 2, padding: 'valid', activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    t = tf.layers.maxPooling2d({ name: 'pool_a', poolSize: 2 }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.conv2d({ name: 'conv_b', filters: 3, kernelSize: 3, padding: 'same', activation: 'sigmoid' }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.reshape({ name: 'to_vector', targetShape: [108] }).apply(t) as tf.SymbolicTensor;
    t = tf.layers.dense({ name: 'scores', units: 10, activation: 'softmax' }).apply(t) as tf.SymbolicTensor;
    const net = tf.model({ inputs: input, outputs: t, name: 'functional_net' });
    const file = join(dir, 'functional.keras');
    await exportKeras(net, file);

    const config = JSON.parse(strFromU8(zipEntries(file)['config.json'])) as {
      class_name: string;
      registered_name: string;
      config: { input_layers: unknown; output_layers: unknown; layers: { name: string; inbound_nodes: { args: { config: { keras_history: [string, number, number] } }[] }[] }[] };
    };
    expect([config.class_name, config.registered_name]).toEqual(['Functional', 'Functional']);
    expect(config.config.input_layers).toEqual(['image', 0, 0]);
    expect(config.config.output_layers).toEqual(['scores', 0, 0]);
    expect(config.config.layers.map((l) => [l.name, l.inbound_nodes[0]?.args[0].config.keras_history[0] ?? null])).toEqual([
      ['image', null],
      ['conv_a', 'image'],
      ['pool_a', 'conv_a'],
      ['conv_b', 'pool_a'],
      ['to_vector', 'conv_b'],
      ['scores', 'to_vector'],
    ]);
    // A Functional model's layers include its InputLayer, so the weights file has its group too.
    const groups = h5pyTree(extract(file, 'model.weights.h5', dir, 'functional.weights.h5')).map((n) => n.path);
    expect(groups).toEqual(expect.arrayContaining(['layers/input_layer/vars', 'layers/conv2d/vars/0', 'layers/conv2d_1/vars/0', 'layers/reshape/vars', 'layers/dense/vars/1']));

    const { model } = await importModel(file);
    expect(model.layers.map((l) => `${l.name}:${l.getClassName()}`)).toEqual(net.layers.map((l) => `${l.name}:${l.getClassName()}`));
    net.getWeights().forEach((w, i) => expect(bytesOf(model.getWeights()[i]).equals(bytesOf(w))).toBe(true));
    const x = images(data.test, 0, 8);
    expect(predictBytes(model, x).equals(predictBytes(net, x))).toBe(true);
    x.dispose();
    net.dispose();
    model.dispose();
  });

  it('a TensorFlow.js model.json (as checkpoint/ writes it): its digest covers model.json and the shard', async () => {
    const original = buildModel(5);
    const modelJson = join(dir, 'tfjs', 'model.json');
    await saveModel(original, modelJson);
    const source = await inspectModelFile(modelJson);
    const topology = (JSON.parse(readFileSync(modelJson, 'utf8')) as { modelTopology: { keras_version: string } }).modelTopology;
    expect(source).toEqual({
      path: modelJson,
      format: 'tfjs-layers',
      sha256: sha256(Buffer.concat([readFileSync(modelJson), readFileSync(join(dir, 'tfjs', 'weights.bin'))])),
      keras_version: topology.keras_version,
      date_saved: null,
    });
    expect(source.keras_version).toMatch(/^tfjs-layers /);
    const { model } = await importModel(modelJson);
    original.getWeights().forEach((w, i) => expect(bytesOf(model.getWeights()[i]).equals(bytesOf(w))).toBe(true));
    original.dispose();
    model.dispose();
  });
});

describe('bad model files: BadInputError naming the file and the fix', () => {
  const dir = tempDir('cnn-lens-keras-bad-');
  const book = zipEntries(BOOK);
  // any: each test edits the config.json document at a few paths; typing the whole document adds nothing.
  type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const bookConfig = (): Doc => JSON.parse(strFromU8(book['config.json'])) as Doc;
  const stored = { level: 0 as const };
  /** A .keras with these entries (each stored, as Keras does). */
  const keras = (name: string, entries: Record<string, Uint8Array>): string => {
    const file = join(dir, name);
    writeFileSync(file, zipSync(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v, stored]]))));
    return file;
  };
  const withConfig = (name: string, edit: (config: Doc) => void, weights = book['model.weights.h5']): string => {
    const config = bookConfig();
    edit(config);
    return keras(name, { 'metadata.json': book['metadata.json'], 'config.json': strToU8(JSON.stringify(config)), 'model.weights.h5': weights });
  };
  const both = async (file: string): Promise<string> => {
    const m = await badInput(inspectModelFile(file));
    expect(await badInput(importModel(file))).toBe(m);
    return m;
  };

  it('a file that is neither zip, HDF5 nor JSON', async () => {
    const file = join(dir, 'notes.keras');
    writeFileSync(file, 'model: my best CNN\n');
    const m = await both(file);
    expect(m).toBe(
      `${file}: not a model file: it is neither a zip archive (.keras), an HDF5 file (.h5) nor JSON (model.json); it starts with the bytes 6d 6f 64 65 6c 3a 20 6d; ` +
        "pass the .keras or .h5 file that Keras's model.save(...) wrote, or a TensorFlow.js model.json (with its weight files beside it)",
    );
    const empty = join(dir, 'empty.h5');
    writeFileSync(empty, '');
    expect(await both(empty)).toMatch(new RegExp(`^${empty}: the file is empty; pass the \\.keras or \\.h5 file`));
  });

  it('a truncated .keras', async () => {
    const file = join(dir, 'truncated.keras');
    const bytes = readFileSync(BOOK);
    writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
    expect(await both(file)).toMatch(new RegExp(`^${file}: not a readable zip archive \\(.*\\): the file is truncated or damaged; copy it again from where it was saved`));
  });

  it('a truncated or corrupted .h5: a clean error, nothing printed by HDF5, the process alive', async () => {
    const truncated = join(dir, 'truncated.h5');
    writeFileSync(truncated, readFileSync(join(FIXTURES, 'book-keras-2.4.0.h5')).subarray(0, 2_000_000));
    expect(await both(truncated)).toBe(`${truncated}: the file is truncated (2000000 of 4044200 bytes); copy it again from where it was saved (an interrupted download or copy?)`);
    const corrupted = join(dir, 'corrupted.h5');
    const bytes = Buffer.from(readFileSync(join(FIXTURES, 'book-keras-2.4.0.h5')).subarray(0, 4096));
    bytes.fill(0xa5, 8);
    writeFileSync(corrupted, bytes);
    expect(await both(corrupted)).toMatch(new RegExp(`^${corrupted}: not a readable HDF5 file \\(.+\\); copy it again`));

    // In a process of its own, so that anything HDF5 writes to the real stderr is seen.
    const script = join(dir, 'probe.mts');
    writeFileSync(
      script,
      `import { inspectModelFile } from ${JSON.stringify(pathToFileURL(join(PROJECT_ROOT, 'pipeline/catalog/keras/index.ts')).href)};
for (const f of ${JSON.stringify([truncated, corrupted])}) await inspectModelFile(f).then(() => console.log('accepted'), (e) => console.log(e.name));
console.log('alive');`,
    );
    const r = spawnSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), [script], { cwd: PROJECT_ROOT, encoding: 'utf8' });
    expect(r.stdout).toBe('BadInputError\nBadInputError\nalive\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('a .keras without config.json', async () => {
    const file = keras('no-config.keras', { 'metadata.json': book['metadata.json'], 'model.weights.h5': book['model.weights.h5'] });
    expect(await both(file)).toBe(
      `${file}: this archive has no config.json, so the model's architecture is missing (it holds metadata.json, model.weights.h5); ` +
        'pass the .keras or .h5 file that Keras\'s model.save(...) wrote, or a TensorFlow.js model.json (with its weight files beside it): the whole .keras file, as model.save("best-cnn-model.keras") writes it',
    );
  });

  it('a weights-only HDF5 (Keras 3 save_weights, and Keras 2 save_weights written with h5wasm)', async () => {
    const keras3 = extract(BOOK, 'model.weights.h5', dir, 'best-cnn-model.weights.h5');
    const fix = 'pass the full .keras or .h5 file that model.save("best-cnn-model.keras") wrote (not one from model.save_weights(...) or a ModelCheckpoint with save_weights_only=True)';
    expect(await both(keras3)).toBe(`${keras3}: a weights-only HDF5 file (it has no model_config attribute): the model's architecture is missing; ${fix}`);

    const keras2 = join(dir, 'keras2.weights.h5');
    const f = new h5wasm.File(keras2, 'w');
    f.create_attribute('keras_version', '2.9.0');
    f.create_attribute('backend', 'tensorflow');
    f.create_attribute('layer_names', ['conv2d']);
    const g = f.create_group('conv2d');
    g.create_attribute('weight_names', ['conv2d/kernel:0']);
    g.create_group('conv2d').create_dataset({ name: 'kernel:0', data: new Float32Array(288), shape: [3, 3, 1, 32], dtype: '<f' });
    f.close();
    expect(await both(keras2)).toBe(`${keras2}: a weights-only HDF5 file (it has no model_config attribute): the model's architecture is missing; ${fix}`);
  });

  it('unsupported layers and settings: each one named with its class', async () => {
    const file = withConfig('lstm.keras', (config) => {
      const layers = config.config.layers as unknown[];
      layers.splice(2, 0, { module: 'keras.layers', class_name: 'BatchNormalization', config: { name: 'batch_normalization' }, registered_name: null });
      layers.push({ module: 'keras.layers', class_name: 'LSTM', config: { name: 'lstm', units: 8 }, registered_name: null });
    });
    const m = await both(file);
    expect(m).toBe(
      `${file}: unsupported layers: batch_normalization (BatchNormalization), lstm (LSTM); ` +
        'cnn-lens runs InputLayer, Conv2D, MaxPooling2D, Flatten, Reshape, Dense and Dropout layers (channels_last, float32) with the activations relu, softmax, sigmoid, tanh and linear; replace those layers, train and save the model again',
    );
    const settings = withConfig('settings.keras', (config) => {
      config.config.layers[1].config.activation = 'gelu';
      config.config.layers[3].config.data_format = 'channels_first';
      config.config.layers[6].config.dtype.config.name = 'mixed_float16';
    });
    expect(await both(settings)).toMatch(
      new RegExp(`^${settings}: unsupported layers: conv2d \\(Conv2D: activation "gelu"\\), conv2d_1 \\(Conv2D: data_format "channels_first"\\), dense \\(Dense: dtype "mixed_float16"\\); cnn-lens runs`),
    );
  });

  it('a weight missing or of the wrong shape: the layer and both shapes', async () => {
    const narrow = withConfig('narrow.keras', (config) => {
      config.config.layers[1].config.filters = 16;
    });
    expect(await badInput(importModel(narrow))).toBe(
      `${narrow}: the weights do not fit the architecture: ` +
        'layer conv2d: layers/conv2d/vars/0 has shape (3, 3, 1, 32), the architecture needs (3, 3, 1, 16); ' +
        'layer conv2d: layers/conv2d/vars/1 has shape (32,), the architecture needs (16,); ' +
        'layer conv2d_1: layers/conv2d_1/vars/0 has shape (3, 3, 32, 64), the architecture needs (3, 3, 16, 64); ' +
        'the file is damaged or was assembled by hand: load it in Python and save it again with model.save("best-cnn-model.keras")',
    );
    // A weights file without dense_1's bias, copied dataset by dataset with h5wasm.
    const bookH5 = extract(BOOK, 'model.weights.h5', dir, 'full.weights.h5');
    const partial = join(dir, 'partial.weights.h5');
    const src = new h5wasm.File(bookH5, 'r');
    const dst = new h5wasm.File(partial, 'w');
    for (const node of h5Tree(bookH5)) {
      if (node.path.startsWith('optimizer') || node.path === 'layers/dense_1/vars/1') continue;
      if (node.kind === 'group') dst.create_group(node.path);
      else dst.create_dataset({ name: node.path, data: (src.get(node.path) as InstanceType<typeof h5wasm.Dataset>).value as Float32Array, shape: node.shape, dtype: '<f' });
    }
    src.close();
    dst.close();
    const missing = withConfig('missing.keras', () => undefined, readFileSync(partial));
    expect(await badInput(importModel(missing))).toBe(
      `${missing}: the weights do not fit the architecture: layer dense_1: its bias (10,) is missing; ` +
        'the file is damaged or was assembled by hand: load it in Python and save it again with model.save("best-cnn-model.keras")',
    );
  });

  it("an input that is not Fashion-MNIST's shape", async () => {
    const rgb = withConfig('cifar.keras', (config) => {
      config.config.layers[0].config.batch_shape = [null, 32, 32, 3];
    });
    const fix =
      'cnn-lens feeds Fashion-MNIST images, so the input must be (28, 28, 1), or (28, 28) read by a Flatten or Reshape layer: pass a model trained on Fashion-MNIST';
    expect(await both(rgb)).toBe(`${rgb}: the model's input shape is (None, 32, 32, 3), not Fashion-MNIST's (None, 28, 28, 1); ${fix}`);
    const flat = withConfig('flat.keras', (config) => {
      config.config.layers[0].config.batch_shape = [null, 28, 28];
    });
    expect(await both(flat)).toBe(`${flat}: the (None, 28, 28) input is read by conv2d (Conv2D); ${fix}`);
  });

  it('a model that cannot be exported writes nothing', async () => {
    const net = tf.sequential();
    net.add(tf.layers.flatten({ name: 'flatten', inputShape: [28, 28, 1] }));
    net.add(tf.layers.batchNormalization({ name: 'batch_normalization' }));
    net.add(tf.layers.dense({ name: 'dense', units: 10 }));
    const file = join(dir, 'never.keras');
    expect(await badInput(exportKeras(net, file))).toMatch(/^the model exported to .*never\.keras: unsupported layers: batch_normalization \(BatchNormalization\);/);
    expect(existsSync(file)).toBe(false);
    net.dispose();
  });
});
