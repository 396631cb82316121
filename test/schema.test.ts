/**
 * The artifact schemas (pipeline/catalog/schema.ts) and the one reader that applies them
 * (pipeline/core/read-artifact.ts): good artifacts pass whole, bad ones are bad input (exit 2)
 * naming the file, the exact field, what was expected, what was found, and the fix.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { BadInputError, exitCodeOf } from '../pipeline/core/errors.js';
import { parseArtifact, readArtifact } from '../pipeline/core/read-artifact.js';
import {
  CLASS_NAMES,
  FeatureIndexSchema,
  FeatureSampleSchema,
  FigureEntrySchema,
  FigureIndexSchema,
  HistoryRowSchema,
  HistorySchema,
  LayerMapSchema,
  MetricsSchema,
  TensorStatsSchema,
  WeightStatsSchema,
  type FeatureIndex,
  type FigureEntry,
  type FigureIndex,
  type FigureKind,
  type History,
  type HistoryRow,
  type LayerMap,
  type Metrics,
  type TensorStats,
  type WeightStats,
} from '../pipeline/catalog/schema.js';
import { RUN_SCHEMA_VERSION, RunManifestSchema, RunParamsSchema, StepRecordSchema, type RunManifest, type StepRecord } from '../pipeline/core/manifest.js';

const FIX = 'run the step that writes it again (add --force)';

// Realistic small artifacts, shaped like what the steps write for a quick run.

const history = (): History => ({
  rows: [
    { epoch: 1, loss: 0.8824, accuracy: 0.6833, val_loss: 0.5538, val_accuracy: 0.7947, seconds: 16.14, samples_per_s: 389.25 },
    { epoch: 2, loss: 0.5418, accuracy: 0.802, val_loss: 0.5182, val_accuracy: 0.8207, seconds: 17.75, samples_per_s: 351.63 },
    { epoch: 3, loss: 0.4708, accuracy: 0.8328, val_loss: 0.4428, val_accuracy: 0.832, seconds: 15.35, samples_per_s: 415.58 },
  ],
  best_epoch: 3,
  stopped_early: false,
});

function metrics(): Metrics {
  // 1,000 test images per class: 830 right, the rest spread over two neighbours.
  const confusion = Array.from({ length: 10 }, (_, t) => {
    const row = new Array<number>(10).fill(0);
    row[t] = 830 + t;
    row[(t + 1) % 10] = 100 - t;
    row[(t + 6) % 10] = 70;
    return row;
  });
  return {
    best_epoch: 3,
    epochs_run: 3,
    val: { loss: 0.4428, accuracy: 0.832, count: 1500 },
    test: { loss: 0.4601, accuracy: 0.8345, count: 10_000 },
    confusion,
    per_class_accuracy: confusion.map((row, i) => row[i] / 1000),
  };
}

function tensorStats(model: string, tensor: 'kernel' | 'bias', shape: number[]): TensorStats {
  const count = shape.reduce((a, b) => a * b, 1);
  const stats: TensorStats = {
    file: `${model}/conv2d/${tensor}.npy`,
    shape,
    count,
    mean: -0.0123,
    std: 0.1872,
    min: -0.5311,
    max: 0.4498,
    percentiles: { p1: -0.47, p5: -0.33, p25: -0.12, p50: -0.01, p75: 0.11, p95: 0.29, p99: 0.41 },
    histogram: { edges: [-0.54, -0.27, 0, 0.27, 0.54], counts: [count / 4, count / 4, count / 4, count / 4] },
  };
  if (tensor === 'kernel') stats.filters = Array.from({ length: shape[shape.length - 1] }, (_, i) => ({ l2: 0.9 + i / 100, mean: -0.01, std: 0.3 }));
  return stats;
}

const weightStats = (): WeightStats => ({
  trained: { conv2d: { kernel: tensorStats('trained', 'kernel', [3, 3, 1, 32]), bias: tensorStats('trained', 'bias', [32]) } },
  untrained: { conv2d: { kernel: tensorStats('untrained', 'kernel', [3, 3, 1, 32]), bias: tensorStats('untrained', 'bias', [32]) } },
  glorot: { conv2d: { fan_in: 9, fan_out: 288, limit: 0.1421338109037403, std: 0.0820610195057749 } },
  untrained_seed: 42,
});

const layerMap = (sample: string, layer: string, index: number): LayerMap => ({
  layer,
  file: `${sample}/${layer}.npy`,
  shape: [1, 28, 28, 32],
  channels: Array.from({ length: 32 }, (_, c) => ({ min: 0, max: 0.37 - c / 100, mean: 0.0256 })),
  code: `tf.model({inputs: model.inputs, outputs: model.layers[${index}].output})`,
});

const featureIndex = (): FeatureIndex => ({
  samples: [
    {
      id: 'train-0',
      split: 'train',
      index: 0,
      label: 9,
      class_name: CLASS_NAMES.en[9],
      image: 'train-0/image.npy',
      prediction: 9,
      probabilities: [7.5e-7, 5.6e-7, 1.4e-6, 2e-6, 2.1e-7, 0.00188, 0.00002, 0.0203, 0.000186, 0.9776],
      layers: [layerMap('train-0', 'conv2d', 0), { ...layerMap('train-0', 'max_pooling2d', 1), shape: [1, 14, 14, 32] }],
    },
  ],
  untrained: { sample: 'train-0', layers: [layerMap('untrained/train-0', 'conv2d', 0)] },
});

const figureIndex = (): FigureIndex => ({
  figures: [
    { name: 'model', kind: 'model', title: 'The model: layers and output shapes', width: 719, height: 378, bytes: { spec: 5995, svg: 13665, png: 73568 } },
    { name: 'kernels-conv2d', kind: 'kernels', title: 'conv2d: 32 kernels of 3 × 3', layer: 'conv2d', width: 756, height: 254, bytes: { spec: 142216, svg: 37351, png: 38084 } },
    { name: 'input-train-0', kind: 'input', title: 'The input: train image #0', sample: 'train-0', width: 390, height: 270, bytes: { spec: 2078, svg: 2622, png: 24202 } },
  ],
});

const step = (started: string, seconds: number): StepRecord => ({
  status: 'ok',
  fingerprint: 'a6b568507d0e72acab9330f2ecdc1a0b265fe1c3cf390d6a76e94a1b7b2cd3dd',
  parts: { params: '1f2e', inputs: '3d4c', code: '5b6a', backend: null },
  outputs: '5e4c2697d8605b45cfb2c3b5d5935e2d7a1fc21371e38bf0e8e9ca9a3b929257',
  started,
  seconds,
});

const runJson = (): RunManifest => ({
  schema_version: 2,
  run_id: 'quick',
  created: '2026-11-28T16:33:58.978Z',
  updated: '2026-11-28T16:35:00.675Z',
  params: { profile: 'quick', seed: 42, epochs: 3, batchSize: 32, patience: 2, trainSize: 6000, valSize: 1500, backend: 'auto', lang: 'en' },
  profile: 'quick',
  seed: 42,
  backend: 'wasm',
  backend_reason: "auto: @tensorflow/tfjs-node is not installed; using wasm with the project's training kernels",
  versions: { node: '20.20.2', '@tensorflow/tfjs': '4.22.0', 'cnn-lens': '0.1.0' },
  git_commit: '395953a4c7a8093f15a5c238c8eb98353bb99165',
  steps: {
    download: step('2026-11-28T16:33:59.019Z', 1.266),
    train: step('2026-11-28T16:34:00.422Z', 50.27),
    'feature-maps': { status: 'failed', fingerprint: 'ca10', started: '2026-11-28T16:34:57.026Z', seconds: 0.789, error: 'feature-maps: no model' },
  },
});

/** A run.json as the previous release wrote it: no schema_version, no fingerprint parts. */
function runJsonV1(): Record<string, unknown> {
  const { schema_version: _, ...rest } = runJson();
  return { ...rest, steps: { download: { status: 'ok', fingerprint: '3bd0', started: '2026-11-28T16:33:59.019Z', seconds: 1.266 } } };
}

/** Every schema with a valid example of it. */
const EXAMPLES: [name: string, schema: v.GenericSchema, example: () => unknown][] = [
  ['HistoryRowSchema', HistoryRowSchema, () => history().rows[0]],
  ['HistorySchema', HistorySchema, history],
  ['MetricsSchema', MetricsSchema, metrics],
  ['TensorStatsSchema', TensorStatsSchema, () => tensorStats('trained', 'kernel', [3, 3, 32, 64])],
  ['WeightStatsSchema', WeightStatsSchema, weightStats],
  ['LayerMapSchema', LayerMapSchema, () => layerMap('test-3', 'conv2d_1', 2)],
  ['FeatureSampleSchema', FeatureSampleSchema, () => featureIndex().samples[0]],
  ['FeatureIndexSchema', FeatureIndexSchema, featureIndex],
  ['FigureEntrySchema', FigureEntrySchema, () => figureIndex().figures[2]],
  ['FigureIndexSchema', FigureIndexSchema, figureIndex],
  ['RunParamsSchema', RunParamsSchema, () => runJson().params],
  ['StepRecordSchema', StepRecordSchema, () => step('2026-11-28T16:34:50.708Z', 6.07)],
  ['RunManifestSchema', RunManifestSchema, runJson],
];

/** The artifacts as files: the name they have in a run folder, their schema, an example. */
const FILES: [file: string, schema: v.GenericSchema, example: () => unknown, firstField: string][] = [
  ['train/history.json', HistorySchema, history, 'rows'],
  // best_epoch, epochs_run and val are optional (an imported model has none): test comes first
  ['checkpoint/metrics.json', MetricsSchema, metrics, 'test'],
  ['weights/stats.json', WeightStatsSchema, weightStats, 'trained'],
  ['feature-maps/index.json', FeatureIndexSchema, featureIndex, 'samples'],
  ['figures/index.json', FigureIndexSchema, figureIndex, 'figures'],
  ['run.json', RunManifestSchema, runJson, 'run_id'],
];

/** The BadInputError that `fn` throws (fails the test when it throws nothing or something else). */
function badInput(fn: () => unknown): BadInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    expect(exitCodeOf(err)).toBe(2);
    return err as BadInputError;
  }
  throw new Error('expected a BadInputError, nothing was thrown');
}
async function badInputAsync(promise: Promise<unknown>): Promise<BadInputError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BadInputError);
  expect(exitCodeOf(err)).toBe(2);
  return err as BadInputError;
}

/** `value` with `edit` applied to a deep copy of it. */
function edited<T>(value: T, edit: (copy: any) => void): unknown {
  const copy = structuredClone(value);
  edit(copy);
  return copy;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schema-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
  return path;
}

describe('valid artifacts', () => {
  it.each(EXAMPLES)('%s accepts a realistic example and returns it whole', (_, schema, example) => {
    const value = example();
    expect(parseArtifact(schema, value, 'example.json', FIX)).toEqual(value);
  });

  it.each(FILES)('%s read from disk', async (file, schema, example) => {
    const path = await fileWith(join('valid', file), JSON.stringify(example(), null, 2));
    expect(await readArtifact(schema, path, FIX)).toEqual(example());
  });

  it('unknown extra keys pass, at the top and deep inside, and are kept', () => {
    const h = edited(history(), (c) => {
      c.added_in_v3 = { anything: [1, 'two'] };
      c.rows[1].lr = 0.001;
    });
    expect(parseArtifact(HistorySchema, h, 'h.json', FIX)).toEqual(h);
    const w = edited(weightStats(), (c) => {
      c.trained.conv2d.kernel.skew = 0.1;
      c.trained.conv2d.extra_tensor = 'ignored';
      c.glorot.conv2d.gain = 1;
    });
    expect(parseArtifact(WeightStatsSchema, w, 'w.json', FIX)).toEqual(w);
    const r = edited(runJson(), (c) => {
      c.host = 'ci-7';
      c.params.newOption = true;
      c.steps.train.memory_mb = 900;
    });
    expect(parseArtifact(RunManifestSchema, r, 'run.json', FIX)).toEqual(r);
  });

  it('optional fields may be absent: a bias without filters, a figure without sample or layer', () => {
    const bias = tensorStats('trained', 'bias', [32]);
    expect(bias.filters).toBeUndefined();
    expect(parseArtifact(TensorStatsSchema, bias, 'stats.json', FIX)).toEqual(bias);
    expect(parseArtifact(FigureEntrySchema, figureIndex().figures[0], 'index.json', FIX).sample).toBeUndefined();
  });
});

describe('run.json versions', () => {
  it('the current version is 2 and is kept', () => {
    expect(RUN_SCHEMA_VERSION).toBe(2);
    expect(parseArtifact(RunManifestSchema, runJson(), 'run.json', FIX).schema_version).toBe(2);
  });

  it('a run.json without schema_version (the previous release) parses as version 1', async () => {
    const path = await fileWith('v1/run.json', JSON.stringify(runJsonV1()));
    const m = await readArtifact(RunManifestSchema, path, FIX);
    expect(m.schema_version).toBe(1);
    expect(m.run_id).toBe('quick');
    expect(m.steps.download?.parts).toBeUndefined();
  });

  it('params of an older run may lack a field added since; a field that is there must be right', () => {
    const old = edited(runJson(), (c) => {
      delete c.params.lang;
      delete c.params.valSize;
    });
    expect(parseArtifact(RunManifestSchema, old, 'run.json', FIX).params.lang).toBeUndefined();
    const bad = edited(runJson(), (c) => (c.params.seed = '42'));
    expect(badInput(() => parseArtifact(RunManifestSchema, bad, 'run.json', FIX)).message).toBe(
      `run.json: field params.seed: expected an integer, got the string "42"; ${FIX}`,
    );
    const lang = edited(runJson(), (c) => (c.params.lang = 'fr'));
    expect(badInput(() => parseArtifact(RunManifestSchema, lang, 'run.json', FIX)).message).toContain('field params.lang: expected "en" or "ko", got the string "fr"');
  });

  it('a schema_version that is not a positive integer is rejected', () => {
    const bad = edited(runJson(), (c) => (c.schema_version = '2'));
    expect(badInput(() => parseArtifact(RunManifestSchema, bad, 'run.json', FIX)).message).toContain('field schema_version: expected an integer >= 1, got the string "2"');
  });

  it('a step name that is not an identifier is quoted in the field path', () => {
    const bad = edited(runJson(), (c) => (c.steps['feature-maps'].status = 'done'));
    expect(badInput(() => parseArtifact(RunManifestSchema, bad, 'run.json', FIX)).message).toContain(
      'field steps["feature-maps"].status: expected "running" or "ok" or "imported" or "failed", got the string "done"',
    );
  });
});

describe('bad artifacts are bad input naming the file, the field and the fix', () => {
  it('the message: file, field path, expected, found, fix', () => {
    const value = edited(metrics(), (c) => delete c.test);
    const err = badInput(() => parseArtifact(MetricsSchema, value, 'artifacts/runs/x/checkpoint/metrics.json', FIX));
    expect(err.message).toBe(
      'artifacts/runs/x/checkpoint/metrics.json: field test: expected an object, got undefined; run the step that writes it again (add --force)',
    );
  });

  it.each(FILES)('%s: {} names the first required field', async (file, schema, _, firstField) => {
    const path = await fileWith(join('empty', file), '{}\n');
    const err = await badInputAsync(readArtifact(schema, path, FIX));
    expect(err.message).toContain(path);
    expect(err.message).toMatch(new RegExp(`^${escape(path)}: field ${escape(firstField)}: expected .+, got undefined; ${escape(FIX)}$`));
  });

  it.each(FILES)('%s: a truncated file is not valid JSON', async (file, schema, example) => {
    const text = JSON.stringify(example(), null, 2);
    const path = await fileWith(join('truncated', file), text.slice(0, Math.floor(text.length / 2)));
    const err = await badInputAsync(readArtifact(schema, path, FIX));
    expect(err.message).toMatch(new RegExp(`^${escape(path)} is not valid JSON \\(.+\\): ${escape(FIX)}$`));
  });

  it.each(FILES)('%s: an empty file is not valid JSON', async (file, schema) => {
    const path = await fileWith(join('zero', file), '');
    expect((await badInputAsync(readArtifact(schema, path, FIX))).message).toContain(`${path} is not valid JSON (`);
  });

  it.each(FILES)('%s: a missing file', async (file, schema) => {
    const path = join(dir, 'nowhere', file);
    expect((await badInputAsync(readArtifact(schema, path, FIX))).message).toBe(`missing ${path}: ${FIX}`);
  });

  it.each(FILES)('%s: a foreign JSON file (a package.json) names the first field it lacks', async (file, schema, _, firstField) => {
    const pkg = await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8');
    const path = await fileWith(join('foreign', file), pkg);
    const err = await badInputAsync(readArtifact(schema, path, FIX));
    expect(err.message).toContain(`${path}: field ${firstField}: expected `);
  });

  it.each(FILES)('%s: JSON that is not an object at all', async (file, schema) => {
    const path = await fileWith(join('array', file), '[1, 2, 3]');
    expect((await badInputAsync(readArtifact(schema, path, FIX))).message).toBe(`${path}: expected an object, got an array of 3 items; ${FIX}`);
    expect(badInput(() => parseArtifact(schema, null, 'x.json', FIX)).message).toBe(`x.json: expected an object, got null; ${FIX}`);
  });

  // A wrong type deep inside: the exact field path, what was expected and what was found.
  const DEEP: [what: string, schema: v.GenericSchema, value: () => unknown, message: string][] = [
    [
      "a history row's val_loss as a string",
      HistorySchema,
      () => edited(history(), (c) => (c.rows[1].val_loss = '0.5182')),
      'field rows[1].val_loss: expected a finite number, got the string "0.5182"',
    ],
    [
      'a NaN loss written by JSON as null',
      HistorySchema,
      () => JSON.parse(JSON.stringify(edited(history(), (c) => (c.rows[2].loss = NaN)))),
      'field rows[2].loss: expected a finite number, got null',
    ],
    ['an empty history', HistorySchema, () => ({ ...history(), rows: [] }), 'field rows: expected a non-empty array, got an empty array'],
    ['a fractional epoch', HistorySchema, () => edited(history(), (c) => (c.rows[0].epoch = 1.5)), 'field rows[0].epoch: expected an integer >= 1, got 1.5'],
    ['stopped_early as a string', HistorySchema, () => ({ ...history(), stopped_early: 'no' }), 'field stopped_early: expected true or false, got the string "no"'],
    [
      'metrics.confusion as a flat array',
      MetricsSchema,
      () => ({ ...metrics(), confusion: metrics().confusion.flat() }),
      'field confusion[0]: expected an array of 10 items, got 830',
    ],
    ['a confusion matrix of 9 classes', MetricsSchema, () => ({ ...metrics(), confusion: metrics().confusion.slice(1) }), 'field confusion: expected an array of 10 items, got an array of 9 items'],
    ['a confusion row too short', MetricsSchema, () => edited(metrics(), (c) => c.confusion[4].pop()), 'field confusion[4]: expected an array of 10 items, got an array of 9 items'],
    ['test.accuracy as null', MetricsSchema, () => edited(metrics(), (c) => (c.test.accuracy = null)), 'field test.accuracy: expected a finite number, got null'],
    ['a negative count', MetricsSchema, () => edited(metrics(), (c) => (c.val.count = -1)), 'field val.count: expected an integer >= 0, got -1'],
    [
      'a kernel shape as a string',
      WeightStatsSchema,
      () => edited(weightStats(), (c) => (c.trained.conv2d.kernel.shape = '3x3x1x32')),
      'field trained.conv2d.kernel.shape: expected an array, got the string "3x3x1x32"',
    ],
    ['a layer without its bias', WeightStatsSchema, () => edited(weightStats(), (c) => delete c.untrained.conv2d.bias), 'field untrained.conv2d.bias: expected an object, got undefined'],
    [
      'a percentile that is not a number',
      WeightStatsSchema,
      () => edited(weightStats(), (c) => (c.trained.conv2d.kernel.percentiles.p50 = 'median')),
      'field trained.conv2d.kernel.percentiles.p50: expected a finite number, got the string "median"',
    ],
    [
      "a kernel filter's l2 missing",
      WeightStatsSchema,
      () => edited(weightStats(), (c) => delete c.trained.conv2d.kernel.filters[7].l2),
      'field trained.conv2d.kernel.filters[7].l2: expected a finite number, got undefined',
    ],
    ['a glorot limit as an object', WeightStatsSchema, () => edited(weightStats(), (c) => (c.glorot.conv2d.limit = {})), 'field glorot.conv2d.limit: expected a finite number, got an object'],
    [
      'a feature index sample with no layers',
      FeatureIndexSchema,
      () => edited(featureIndex(), (c) => delete c.samples[0].layers),
      'field samples[0].layers: expected an array, got undefined',
    ],
    [
      "a layer's channel min as null",
      FeatureIndexSchema,
      () => edited(featureIndex(), (c) => (c.samples[0].layers[1].channels[31].min = null)),
      'field samples[0].layers[1].channels[31].min: expected a finite number, got null',
    ],
    ['a split that is neither train nor test', FeatureIndexSchema, () => edited(featureIndex(), (c) => (c.samples[0].split = 'val')), 'field samples[0].split: expected "train" or "test", got the string "val"'],
    ['a label out of range', FeatureIndexSchema, () => edited(featureIndex(), (c) => (c.samples[0].label = 10)), 'field samples[0].label: expected an integer from 0 to 9, got 10'],
    ['untrained maps missing', FeatureIndexSchema, () => edited(featureIndex(), (c) => delete c.untrained), 'field untrained: expected an object, got undefined'],
    ['a figure of an unknown kind', FigureIndexSchema, () => edited(figureIndex(), (c) => (c.figures[1].kind = 'kernel')), 'field figures[1].kind: expected "model" or '],
    ['a figure sample as a number', FigureIndexSchema, () => edited(figureIndex(), (c) => (c.figures[2].sample = 0)), 'field figures[2].sample: expected a string, got 0'],
    ['a figure without bytes', FigureIndexSchema, () => edited(figureIndex(), (c) => delete c.figures[0].bytes.png), 'field figures[0].bytes.png: expected an integer >= 0, got undefined'],
    ['a step record without a fingerprint', RunManifestSchema, () => edited(runJson(), (c) => delete c.steps.train.fingerprint), 'field steps.train.fingerprint: expected a string, got undefined'],
    ['fingerprint parts with a numeric backend', RunManifestSchema, () => edited(runJson(), (c) => (c.steps.download.parts.backend = 1)), 'field steps.download.parts.backend: expected a string, got 1'],
    ['an array where an object belongs', MetricsSchema, () => ({ ...metrics(), val: [0.4428, 0.832, 1500] }), 'field val: expected an object, got an array of 3 items'],
    ['an empty array where a map of layers belongs', WeightStatsSchema, () => ({ ...weightStats(), glorot: [] }), 'field glorot: expected an object, got an empty array'],
    ['params as an array (every params field is optional)', RunManifestSchema, () => ({ ...runJson(), params: [] }), 'field params: expected an object, got an empty array'],
    ['versions holding a number', RunManifestSchema, () => edited(runJson(), (c) => (c.versions.vega = 6)), 'field versions.vega: expected a string, got 6'],
  ];

  it.each(DEEP)('%s', async (_, schema, value, message) => {
    const path = await fileWith(join('deep', `${Math.random().toString(36).slice(2)}.json`), JSON.stringify(value()));
    const err = await badInputAsync(readArtifact(schema, path, FIX));
    expect(err.message.startsWith(`${path}: ${message}`)).toBe(true);
    expect(err.message.endsWith(`; ${FIX}`)).toBe(true);
  });

  it('NaN and Infinity handed over in memory are rejected too', () => {
    const nan = edited(metrics(), (c) => (c.per_class_accuracy[3] = NaN));
    expect(badInput(() => parseArtifact(MetricsSchema, nan, 'm.json', FIX)).message).toContain('field per_class_accuracy[3]: expected a finite number, got NaN');
    const inf = edited(history(), (c) => (c.rows[0].loss = Infinity));
    expect(badInput(() => parseArtifact(HistorySchema, inf, 'h.json', FIX)).message).toContain('field rows[0].loss: expected a finite number, got Infinity');
  });

  it('a long string found is shortened in the message', () => {
    const bad = edited(history(), (c) => (c.best_epoch = 'x'.repeat(500)));
    const message = badInput(() => parseArtifact(HistorySchema, bad, 'h.json', FIX)).message;
    expect(message).toContain(`got the string "${'x'.repeat(40)}…"`);
    expect(message.length).toBeLessThan(200);
  });

  it('a folder where the file should be', async () => {
    const path = join(dir, 'a-folder.json');
    await mkdir(path, { recursive: true });
    expect((await badInputAsync(readArtifact(HistorySchema, path, FIX))).message).toBe(`${path} is a folder, not a JSON file: ${FIX}`);
  });
});

describe('types derived from the schemas', () => {
  it('keep the names and shapes the importers use', () => {
    expectTypeOf<History['rows'][number]>().toEqualTypeOf<HistoryRow>();
    expectTypeOf<Metrics['confusion']>().toEqualTypeOf<number[][]>();
    expectTypeOf<WeightStats['trained'][string]['kernel']>().toEqualTypeOf<TensorStats>();
    expectTypeOf<TensorStats['filters']>().toEqualTypeOf<{ l2: number; mean: number; std: number }[] | undefined>();
    expectTypeOf<FeatureIndex['samples'][number]['split']>().toEqualTypeOf<'train' | 'test'>();
    expectTypeOf<FeatureIndex['untrained']['layers'][number]>().toEqualTypeOf<LayerMap>();
    expectTypeOf<FigureIndex['figures'][number]>().toExtend<FigureEntry>();
    expectTypeOf<FigureEntry>().toExtend<FigureIndex['figures'][number]>();
    expectTypeOf<FigureEntry['kind']>().toEqualTypeOf<FigureKind>();
    expectTypeOf<RunManifest['schema_version']>().toEqualTypeOf<number>();
    expectTypeOf<RunManifest['steps'][string]['status']>().toEqualTypeOf<'running' | 'ok' | 'imported' | 'failed'>();
  });

  it('FigureEntry stays generic in its kind (the diff writes its own kinds)', () => {
    type DiffKind = 'learning-curves' | 'confusion-delta';
    const entry: FigureEntry<DiffKind> = { name: 'confusion-delta', kind: 'confusion-delta', title: 't', width: 1, height: 1, bytes: { spec: 1, svg: 1, png: 1 } };
    entry.layer = 'conv2d';
    expectTypeOf(entry.kind).toEqualTypeOf<DiffKind>();
    expectTypeOf(entry.sample).toEqualTypeOf<string | undefined>();
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
