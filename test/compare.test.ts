/**
 * `npm run compare` end to end on copies of the suite's tiny run (no training): copies whose conv2d
 * filters are permuted (with conv2d_1's input channels to match, so each computes the same
 * function), copies with other recorded params and metrics, a copy of another architecture and an
 * incomplete one. The real CLI writes; its files are read back and its page opened in chromium.
 */
import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readNpy, writeNpy } from '../pipeline/catalog/npy.js';
import { permuteAxis } from '../pipeline/diff/match-filters.js';
import { permutation } from '../pipeline/data/split.js';
import type { CompareSummary } from '../pipeline/compare/summary.js';
import { defaultCompareName } from '../pipeline/compare/cli.js';
import { compareMain } from '../pipeline/compare/main.js';
import { exitCodeOf, UsageError } from '../pipeline/core/errors.js';
import { TRAINING_PARAMS } from '../pipeline/core/params.js';
import { runCli, tempDir, type CliResult } from './helpers.js';
import { expectWholePage, viewPage } from './helpers/browser-check.js';

// run.json, stats.json, metrics.json and model.json are edited as the plain JSON they are.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const started = performance.now();
let root: string;
let artifacts: string;
const runDir = (id: string) => join(artifacts, 'runs', id);
const readJsonFile = async <T = Json>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;
const exists = async (p: string) => (await stat(p).catch(() => null)) !== null;

function compare(...args: string[]): CliResult {
  return runCli('pipeline/compare-main.ts', [...args, '--artifacts', artifacts]);
}

/** A copy of the tiny run without what compare never reads (training state, figures, report). */
async function copyRun(id: string): Promise<string> {
  const src = inject('tinyRun');
  const skip = [join(src, 'train', 'state'), join(src, 'figures'), join(src, 'report.html')];
  await cp(src, runDir(id), { recursive: true, filter: (p) => !skip.some((s) => p === s || p.startsWith(`${s}/`)) });
  return runDir(id);
}

async function editJson(path: string, edit: (j: Json) => void): Promise<void> {
  const j = await readJsonFile(path);
  edit(j);
  await writeFile(path, JSON.stringify(j));
}

/**
 * Puts conv2d's filter perm[i] at position i (kernel's last axis, bias, and the channels of its
 * and its pooling layer's feature maps) and conv2d_1's input channels in the same order: the model
 * computes the same function with its filters relabelled. Writes what compare reads: weights/
 * (.npy and the per-filter stats) and feature-maps/.
 */
async function permuteConv2d(dir: string, perm: number[]): Promise<void> {
  const w = (layer: string, kind: string) => join(dir, 'weights', 'trained', layer, `${kind}.npy`);
  const k = await readNpy(w('conv2d', 'kernel'));
  await writeNpy(w('conv2d', 'kernel'), permuteAxis(k.data, k.shape, -1, perm), k.shape);
  const b = await readNpy(w('conv2d', 'bias'));
  await writeNpy(w('conv2d', 'bias'), Float32Array.from(perm, (j) => b.data[j]), b.shape);
  const k1 = await readNpy(w('conv2d_1', 'kernel'));
  await writeNpy(w('conv2d_1', 'kernel'), permuteAxis(k1.data, k1.shape, -2, perm), k1.shape);
  await editJson(join(dir, 'weights', 'stats.json'), (s) => {
    const f = s.trained.conv2d.kernel.filters;
    s.trained.conv2d.kernel.filters = perm.map((j) => f[j]);
  });
  const index = await readJsonFile(join(dir, 'feature-maps', 'index.json'));
  for (const sample of index.samples) {
    for (const l of sample.layers) {
      if (l.layer !== 'conv2d' && l.layer !== 'max_pooling2d') continue;
      const path = join(dir, 'feature-maps', l.file);
      const m = await readNpy(path);
      await writeNpy(path, permuteAxis(m.data, m.shape, -1, perm), m.shape);
    }
  }
}

/** The copy's metrics and recorded dropout (undefined: none recorded, as by a run made before --dropout existed). */
async function setRun(dir: string, accuracy: number, loss: number, dropout?: number): Promise<void> {
  await editJson(join(dir, 'checkpoint', 'metrics.json'), (m) => {
    m.test.accuracy = accuracy;
    m.test.loss = loss;
  });
  await editJson(join(dir, 'run.json'), (r) => {
    if (dropout === undefined) delete r.params.dropout;
    else r.params.dropout = dropout;
  });
}

const sd = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};

const PERM_A = Array.from(permutation(32, 7));
const PERM_B = Array.from(permutation(32, 8));

beforeAll(async () => {
  root = tempDir('cnn-lens-compare-');
  artifacts = join(root, 'artifacts');
  await copyRun('base');
  await permuteConv2d(await copyRun('perm-a'), PERM_A);
  await permuteConv2d(await copyRun('perm-b'), PERM_B);

  // Another architecture: conv2d with 16 filters (its weights, their index and its layer table).
  const narrow = await copyRun('narrow');
  for (const kind of ['kernel', 'bias'] as const) {
    const path = join(narrow, 'weights', 'trained', 'conv2d', `${kind}.npy`);
    const t = await readNpy(path);
    const shape = [...t.shape.slice(0, -1), 16];
    await writeNpy(path, t.data.filter((_, i) => i % 32 < 16), shape);
    await editJson(join(narrow, 'weights', 'stats.json'), (s) => (s.trained.conv2d[kind].shape = shape));
  }
  await editJson(join(narrow, 'checkpoint', 'model.json'), (m) => {
    const layers = m.modelTopology.model_config?.config?.layers ?? m.modelTopology.config.layers;
    layers.find((l: Json) => l.config.name === 'conv2d').config.filters = 16;
  });
  // Incomplete: its feature-maps step is still running (killed, say).
  await editJson(join(await copyRun('partial'), 'run.json'), (r) => (r.steps['feature-maps'].status = 'running'));

  // Two groups by dropout: 0.3 recorded, and 0.4 by default (a run made before --dropout existed records none).
  await setRun(await copyRun('g-d3-1'), 0.8, 0.6, 0.3);
  await setRun(await copyRun('g-d3-2'), 0.82, 0.55, 0.3);
  await setRun(await copyRun('g-d3-3'), 0.83, 0.5, 0.3);
  await setRun(await copyRun('g-d4-1'), 0.85, 0.45, 0.4);
  await setRun(await copyRun('g-d4-2'), 0.88, 0.4);
  // A run of an imported model (--model): no training, so no history, no validation metrics, no dropout.
  const imported = await copyRun('g-imported');
  await setRun(imported, 0.9, 0.3);
  await rm(join(imported, 'train', 'history.json'));
  await editJson(join(imported, 'checkpoint', 'metrics.json'), (m) => {
    delete m.val;
    delete m.best_epoch;
    delete m.epochs_run;
  });
  await editJson(join(imported, 'run.json'), (r) => {
    for (const key of TRAINING_PARAMS) delete r.params[key];
    r.params.model = { path: '/somewhere/best-cnn-model.keras', sha256: '0'.repeat(64), format: 'keras3', keras_version: '3.4.1', date_saved: null };
    r.steps.train.status = 'imported';
  });
});

afterAll(async () => {
  console.log(`test/compare.test.ts: ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  if (process.env.KEEP_FIXTURE) console.log(`kept ${root}`);
  else await rm(root, { recursive: true, force: true });
});

describe('a run and copies of it with permuted conv2d filters, beside a mismatched and an incomplete run', () => {
  let out: string;
  let summary: CompareSummary;
  let result: CliResult;

  beforeAll(async () => {
    result = compare('base', 'perm-a', runDir('perm-b'), 'narrow', 'partial');
    out = join(artifacts, 'compares', defaultCompareName(['base', 'perm-a', 'perm-b', 'narrow', 'partial']));
    summary = await readJsonFile<CompareSummary>(join(out, 'summary.json'));
  });

  it('compares the three, leaving out the other two with the reason', () => {
    expect(result.code, result.stderr).toBe(0);
    expect(out.endsWith(join('compares', 'base__partial__5-runs'))).toBe(true);
    expect(result.stdout).toContain(`compare: wrote ${out}`);
    expect(result.stdout).toMatch(/compare 3 runs \(2 left out\): test accuracy all runs \d\.\d{4} ± 0\.0000 \(n=3\)/);
    expect(summary.runs.map((r) => r.id)).toEqual(['base', 'perm-a', 'perm-b']);
    expect(summary.reference).toBe('base');
    expect(summary.left_out.map((l) => [l.id, l.kind])).toEqual([
      ['narrow', 'mismatched'],
      ['partial', 'incomplete'],
    ]);
    expect(summary.left_out[0].reason).toBe("its conv2d kernel has shape [3, 3, 1, 16] where the reference base's (conv2d) has [3, 3, 1, 32]");
    expect(summary.left_out[1].reason).toContain('records step(s) feature-maps (running)');
    expect(result.stderr).toContain('left out narrow (mismatched)');
  });

  it('matches the permuted filters back: similarity 1, zero spread, the permutation recovered', () => {
    const [conv2d, conv2d1] = summary.kernels;
    expect([conv2d.layer, conv2d1.layer]).toEqual(['conv2d', 'conv2d_1']);
    for (const k of summary.kernels) {
      expect(k.similarity!.n).toBe(2 * k.filters);
      expect(k.similarity!.mean).toBeCloseTo(1, 6);
      expect(k.similarity!.min).toBeCloseTo(1, 6);
      expect(k.similarity!.sd).toBeLessThan(1e-6);
      for (const a of k.agreement) expect(a).toBeCloseTo(1, 6);
    }
    // perm-a holds base's filter PERM_A[j] at j: base's filter i is matched to perm-a's j with PERM_A[j] = i.
    for (const [m, perm] of [[conv2d.matches[0], PERM_A], [conv2d.matches[1], PERM_B]] as const) {
      m.perm.forEach((j, i) => expect(perm[j]).toBe(i));
    }
    // conv2d_1's filters were not moved: matched as the identity once its inputs are carried.
    expect(conv2d1.matches[0].perm).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(summary.runs.map((r) => r.closeness).every((c) => Math.abs(c - 1) < 1e-6)).toBe(true);
  });

  it('writes consensus kernels equal to the original ones', async () => {
    for (const layer of ['conv2d', 'conv2d_1']) {
      const consensus = await readNpy(join(out, 'consensus', layer, 'kernel.npy'));
      const original = await readNpy(join(runDir('base'), 'weights', 'trained', layer, 'kernel.npy'));
      expect(consensus.shape).toEqual(original.shape);
      let max = 0;
      for (let i = 0; i < original.data.length; i++) max = Math.max(max, Math.abs(consensus.data[i] - original.data[i]));
      expect(max).toBeLessThan(1e-6);
    }
  });

  it('writes every figure as spec, SVG and PNG, both summaries, and a page that opens offline', async () => {
    const figures = ['metrics', 'per-class', 'learning-curves-1', 'kernel-similarity', 'consensus-conv2d', 'consensus-conv2d_1', 'maps-conv2d', 'maps-conv2d_1'];
    const names = (await readdir(out)).sort();
    expect(names).toEqual([...figures.flatMap((f) => [`${f}.png`, `${f}.svg`, `${f}.vl.json`]), 'compare.html', 'compare.json', 'consensus', 'summary.json', 'summary.md'].sort());
    for (const f of figures) for (const ext of ['vl.json', 'svg', 'png']) expect((await stat(join(out, `${f}.${ext}`))).size, `${f}.${ext}`).toBeGreaterThan(100);
    const md = await readFile(join(out, 'summary.md'), 'utf8');
    expect(md).toContain('### cnn-lens compare: 3 runs');
    expect(md).toContain('- `narrow`: mismatched: its conv2d kernel has shape [3, 3, 1, 16]');
    expect(md).toContain('conv2d mean similarity 1.000 (min 1.000)');

    const html = join(out, 'compare.html');
    const [view] = await viewPage(html, [{ width: 1280 }]);
    expectWholePage(view, html, ['runs', 'metrics', 'differences', 'per-class', 'training', 'kernels', 'maps'], figures);
    expect(view.text).toContain('Comparison of 3 runs');
    expect(view.text).toContain('narrow');
    expect(view.text).toMatch(/Here it is (base|perm-a|perm-b) \(1\.0000\)/);
  });
});

describe('groups by a recorded parameter, with a --fail-on rule on their statistics', () => {
  let out: string;
  let summary: CompareSummary;
  let result: CliResult;
  const d3 = { acc: [0.8, 0.82, 0.83], loss: [0.6, 0.55, 0.5] };
  const d4 = { acc: [0.85, 0.88], loss: [0.45, 0.4] };
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

  beforeAll(async () => {
    out = join(root, 'by-dropout');
    result = compare('--runs', 'g-*', '--group-by', 'dropout', '--fail-on', 'test.accuracy.mean < 0.84', '--fail-on', 'test.accuracy.sd > 0.1', '--out', out);
    summary = await readJsonFile<CompareSummary>(join(out, 'summary.json'));
  });

  it('groups the runs, the absent dropout read as its default 0.4, an imported model\'s as n/a', () => {
    expect(summary.groups.map((g) => [g.name, g.runs])).toEqual([
      ['dropout=0.3', ['g-d3-1', 'g-d3-2', 'g-d3-3']],
      ['dropout=0.4', ['g-d4-1', 'g-d4-2']],
      ['dropout=n/a', ['g-imported']],
    ]);
    // The imported model has no validation metrics and no learning curves: its group has neither.
    expect(Object.keys(summary.groups[2].metrics)).not.toContain('val.accuracy');
    expect(summary.groups[1].metrics['val.accuracy'].n).toBe(2);
    expect(Object.values(summary.figures)).toEqual(['metrics.png', 'kernel-similarity.png']);
  });

  it('gives each group its mean, sample sd, min and max', () => {
    const [g3, g4] = summary.groups;
    for (const [g, want] of [[g3, d3], [g4, d4]] as const) {
      const acc = g.metrics['test.accuracy'];
      expect(acc.n).toBe(want.acc.length);
      expect(acc.mean).toBeCloseTo(mean(want.acc), 12);
      expect(acc.sd!).toBeCloseTo(sd(want.acc), 12);
      expect([acc.min, acc.max]).toEqual([Math.min(...want.acc), Math.max(...want.acc)]);
      expect(g.metrics['test.loss'].mean).toBeCloseTo(mean(want.loss), 12);
    }
    expect(summary.groups[0].metrics['test.accuracy'].sd!).toBeCloseTo(0.015275252, 8);
  });

  it('states the difference with its standard error', async () => {
    const acc = summary.differences.find((d) => d.metric === 'test.accuracy')!;
    const se = Math.sqrt(sd(d3.acc) ** 2 / 3 + sd(d4.acc) ** 2 / 2);
    expect(acc.delta).toBeCloseTo(mean(d3.acc) - mean(d4.acc), 12);
    expect(acc.se!).toBeCloseTo(se, 12);
    expect(acc.text).toBe('dropout 0.3 vs 0.4: test accuracy -0.0483 ± 0.0174 over 3 and 2 runs');
    expect(summary.differences.find((d) => d.metric === 'test.loss')!.text).toBe(`dropout 0.3 vs 0.4: test loss +0.1250 ± ${Math.sqrt(sd(d3.loss) ** 2 / 3 + sd(d4.loss) ** 2 / 2).toFixed(4)} over 3 and 2 runs`);
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain(`- ${acc.text}`);
    // A group of one run has no spread: its differences have no standard error, and say so.
    const single = summary.differences.find((d) => d.metric === 'test.accuracy' && d.b === 'dropout=n/a')!;
    expect(single.se).toBeNull();
    expect(single.text).toBe(`dropout 0.3 vs n/a: test accuracy ${(mean(d3.acc) - 0.9).toFixed(4)} over 3 and 1 runs (no standard error: a group of one run has no spread)`);
  });

  it('fails (exit 1) after writing everything when a rule holds for a group', async () => {
    expect(result.code, result.stderr).toBe(1);
    expect(await exists(join(out, 'compare.html'))).toBe(true);
    expect(summary.failed).toEqual(['test.accuracy.mean < 0.84']);
    const [holds, passes] = summary.rules;
    expect(holds.groups.map((g) => [g.group, g.holds])).toEqual([
      ['dropout=0.3', true],
      ['dropout=0.4', false],
      ['dropout=n/a', false],
    ]);
    expect(passes.holds).toBe(false);
    expect(passes.skipped).toEqual(['dropout=n/a']);
    expect(await exists(join(out, 'learning-curves-1.svg'))).toBe(true);
    expect(await exists(join(out, 'learning-curves-3.svg'))).toBe(false);
    expect(result.stderr).toContain('compare failed: 1 of 2 --fail-on rule(s) hold:');
    expect(result.stderr).toContain(`test.accuracy.mean < 0.84  (dropout=0.3: ${mean(d3.acc)})`);
  });
});

describe('refusals (exit 2, nothing written)', () => {
  // In process, as the sweep calls it: the error is what runMain turns into exit 2 and stderr.
  it('an unknown metric in a rule, listing the known ones', async () => {
    const out = join(root, 'unknown-metric');
    const err = await compareMain(['base', 'perm-a', '--fail-on', 'test.acc.mean < 0.9', '--out', out, '--artifacts', artifacts]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message).toMatch(/unknown metric "test\.acc\.mean"; known: test\.accuracy\.mean, test\.accuracy\.sd, test\.accuracy\.min, test\.accuracy\.max, test\.loss\.mean/);
    expect(await exists(out)).toBe(false);
  });

  it('fewer than two usable runs, naming each run left out and why', async () => {
    const r = compare('base', 'narrow', 'partial');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('compare needs at least two usable runs, and only base is (3 given)');
    expect(r.stderr).toContain('narrow: mismatched: its conv2d kernel has shape [3, 3, 1, 16]');
    expect(r.stderr).toContain('partial: incomplete: run partial is incomplete');
    expect(await exists(join(artifacts, 'compares', defaultCompareName(['base', 'narrow', 'partial'])))).toBe(false);
  });
});
