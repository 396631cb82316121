/**
 * `npm run diff` end to end: three small real runs made by the real pipeline CLI (seed 42 twice
 * under two run ids, seed 2 once), diffed by the real diff CLI, its files read back and its page
 * opened in chromium. Run a is a copy of the suite's tiny run (test/global-setup.ts: 256 training
 * images, 1 epoch); the other two are made here with its options, up to the last step the diff
 * reads (feature-maps, DIFF_READS in pipeline/diff/load-run.ts), to keep CI fast.
 */
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultDiffName, parseDiffCli } from '../pipeline/diff/cli.js';
import { matchFilters, permuteAxis } from '../pipeline/diff/match-filters.js';
import { UsageError } from '../pipeline/core/errors.js';
import type { SummaryJson } from '../pipeline/diff/summary.js';
import type { DiffContext } from '../pipeline/diff/page.js';
import { readNpy, writeNpy } from '../pipeline/catalog/npy.js';
import type { FeatureIndex, Metrics, WeightStats } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { permutation } from '../pipeline/data/split.js';
import { runCli, tempDir, type CliResult } from './helpers.js';
import { expectWholePage, viewPage } from './helpers/browser-check.js';
import { englishMessages, englishRuns, flatCatalog, readPageLanguage, type LanguageView } from './helpers/language-check.js';
import { loadCatalog } from '../pipeline/render/messages.js';

// Specs and contexts are read back as the plain JSON they are.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

/** The tiny run's options but its run id; the seed is the default, 42. */
const TINY = inject('tinyArgs').filter((a, i, all) => a !== '--run' && all[i - 1] !== '--run');
const ENV = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '' };
const SECTIONS = ['params', 'metrics', 'training', 'weights', 'kernels', 'evaluation'];

let root: string;
let artifacts: string;
const started = performance.now();

function pipeline(run: string, seed: number): void {
  const r = runCli('pipeline/main.ts', [...TINY, '--to', 'feature-maps', '--artifacts', artifacts, '--seed', String(seed), '--run', run], ENV);
  if (r.code !== 0) throw new Error(`pipeline run ${run} failed (${r.code}): ${r.stderr}`);
}

function diff(...args: string[]): CliResult {
  return runCli('pipeline/diff-main.ts', [...args, '--artifacts', artifacts]);
}

/** Rules the diff of a and b below must not fail on: no accuracy drops by more than 1, no std reaches 10. */
const RULES_THAT_DO_NOT_HOLD = ['test.accuracy < -1', 'weights.conv2d.kernel.std > 10'];
let ab: { out: string; result: CliResult; summary: SummaryJson; context: DiffContext };

const readJsonFile = async <T = Json>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;
const runDir = (id: string) => join(artifacts, 'runs', id);
const exists = async (p: string) => (await stat(p).catch(() => null)) !== null;

function cosine(a: Float32Array, b: Float32Array, k: number, j: number, out: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let p = 0; p < a.length / out; p++) {
    dot += a[p * out + k] * b[p * out + j];
    na += a[p * out + k] ** 2;
    nb += b[p * out + j] ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

/** Every figure of a diff folder: its three files exist and the SVG is an SVG. */
async function expectFigures(dir: string, names: string[]): Promise<void> {
  for (const name of names) {
    for (const ext of ['vl.json', 'svg', 'png']) expect((await stat(join(dir, `${name}.${ext}`))).size, `${name}.${ext}`).toBeGreaterThan(100);
    expect((await readFile(join(dir, `${name}.svg`), 'utf8')).startsWith('<svg ')).toBe(true);
  }
}

beforeAll(async () => {
  root = tempDir('cnn-lens-diff-');
  artifacts = join(root, 'artifacts');
  const t0 = performance.now();
  // The suite's verified dataset cache, copied with its record: the runs below find it up to date.
  await cp(inject('datasetDir'), new RunStore(artifacts, 'a').dataDir, { recursive: true });
  await cp(inject('tinyRun'), runDir('a'), { recursive: true });
  pipeline('a-again', 42);
  pipeline('b', 2);
  console.log(`two small runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // One diff of a and b serves three describes below: the whole output, the exit code with rules
  // that do not hold, and the default output folder (it is made without --out).
  const out = join(artifacts, 'diffs', 'a__b');
  const result = diff('a', 'b', ...RULES_THAT_DO_NOT_HOLD.flatMap((rule) => ['--fail-on', rule]));
  const read = <T>(file: string) =>
    readJsonFile<T>(join(out, file)).catch((err: unknown) => {
      throw new Error(`diff a b wrote no ${file} (exit ${result.code}): ${result.stderr}`, { cause: err });
    });
  ab = { out, result, summary: await read<SummaryJson>('summary.json'), context: await read<DiffContext>('diff.json') };
});

afterAll(async () => {
  console.log(`test/diff.test.ts: ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  if (process.env.KEEP_FIXTURE) console.log(`kept ${root}`);
  else await rm(root, { recursive: true, force: true });
});

describe('two runs with different seeds', () => {
  let out: string;
  let summary: SummaryJson;
  let context: DiffContext;
  let result: CliResult;

  beforeAll(() => {
    ({ out, result, summary, context } = ab);
  });

  it('succeeds and reports the changes: seed, metrics, weights', async () => {
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`wrote ${out}`);
    const ma = await readJsonFile<Metrics>(join(runDir('a'), 'checkpoint', 'metrics.json'));
    const mb = await readJsonFile<Metrics>(join(runDir('b'), 'checkpoint', 'metrics.json'));
    expect(summary.metrics['test.accuracy']).toMatchObject({ a: ma.test.accuracy, b: mb.test.accuracy, delta: mb.test.accuracy - ma.test.accuracy, better: 1, timing: false });
    expect(summary.metrics['val.loss']).toMatchObject({ a: ma.val!.loss, b: mb.val!.loss, delta: mb.val!.loss - ma.val!.loss, better: -1 });
    // Different seeds train different models: the test metrics move.
    expect(summary.metrics['test.accuracy'].delta).not.toBe(0);
    expect(summary.metrics['test.loss'].delta).not.toBe(0);
    expect(summary.params).toEqual([{ name: 'seed', a: 42, b: 2 }]);
    expect(summary.weights.identical).toBe(false);
    expect(summary.weights.maxAbsDelta).toBeGreaterThan(0.01);
    expect(summary.failed).toEqual([]);

    // Per class and confusion deltas are B minus A, from the runs' own metrics.
    expect(context.evaluation.per_class.map((p) => p.delta)).toEqual(ma.per_class_accuracy.map((v, i) => mb.per_class_accuracy[i] - v));
    expect(context.evaluation.moved_images).toBeGreaterThan(0);
  });

  it('matches conv filters by an optimal assignment, not by position', async () => {
    const ka = await readNpy(join(runDir('a'), 'weights', 'trained', 'conv2d', 'kernel.npy'));
    const kb = await readNpy(join(runDir('b'), 'weights', 'trained', 'conv2d', 'kernel.npy'));
    const [conv2d, conv2d1] = summary.weights.conv_match;
    expect(conv2d.layer).toBe('conv2d');
    expect(conv2d1.layer).toBe('conv2d_1');
    expect(conv2d.identity).toBe(false);
    expect(conv2d1.identity).toBe(false);
    expect([...conv2d.perm].sort((x, y) => x - y)).toEqual(Array.from({ length: 32 }, (_, i) => i));
    // The reported mean is the mean cosine of the pairs as matched, and no worse than by position.
    const matched = conv2d.perm.map((j, i) => cosine(ka.data, kb.data, i, j, 32));
    const byPosition = conv2d.perm.map((_, i) => cosine(ka.data, kb.data, i, i, 32));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(conv2d.mean_similarity).toBeCloseTo(mean(matched), 10);
    expect(conv2d.min_similarity).toBeCloseTo(Math.min(...matched), 10);
    expect(mean(matched)).toBeGreaterThan(mean(byPosition));
    expect(conv2d.mean_similarity).toBeLessThan(1);
  });

  it('writes the page, its data, both summaries and every figure as spec, SVG and PNG', async () => {
    const names = (await readdir(out)).sort();
    const figures = [
      'confusion-delta',
      'kernels-conv2d',
      'kernels-conv2d_1',
      'learning-curves',
      'maps-conv2d',
      'maps-conv2d_1',
      'per-class-delta',
      'weight-histograms',
    ];
    expect(names).toEqual([...figures.flatMap((f) => [`${f}.png`, `${f}.svg`, `${f}.vl.json`]), 'diff.html', 'diff.json', 'summary.json', 'summary.md'].sort());
    await expectFigures(out, figures);
    expect(context.figures.count).toBe(figures.length);

    const md = await readFile(join(out, 'summary.md'), 'utf8');
    const acc = summary.metrics['test.accuracy'];
    expect(md).toContain(`| test.accuracy | ${acc.a.toFixed(4)} | ${acc.b.toFixed(4)} | ${acc.delta > 0 ? '+' : ''}${acc.delta.toFixed(4)}`);
    expect(md).toContain('| train.seconds (timing) |');
    expect(md).toContain('**Params changed:** seed 42 → 2');
    for (const f of ['learning-curves', 'kernels-conv2d', 'per-class-delta', 'confusion-delta']) expect(md).toContain(`${join(out, f)}.png`);
    expect(md.split('\n').length).toBeLessThan(40);
    expect(Object.values(summary.figures)).toContain('learning-curves.png');
    expect(summary.html).toBe('diff.html');

    // The histograms are re-binned on edges shared by A and B: both series have the same bins.
    const hist = await readJsonFile(join(out, 'weight-histograms.vl.json'));
    const bars: Json[] = hist.concat[0].layer[0].data.values;
    const edges = (label: string) => bars.filter((b) => b.model.startsWith(label)).map((b) => [b.lo, b.hi]);
    expect(edges('A')).toHaveLength(40);
    expect(edges('A')).toEqual(edges('B'));
    const ka = await readNpy(join(runDir('a'), 'weights', 'trained', 'conv2d', 'kernel.npy'));
    expect(bars.filter((b) => b.model.startsWith('A')).reduce((n, b) => n + b.count, 0)).toBe(ka.data.length);
  });

  it('shows the page in a browser with no error, no request and every figure visible', async () => {
    const html = join(out, 'diff.html');
    const views = await viewPage(html, [{ width: 1280, screenshot: join(root, 'diff.png') }, { width: 390 }]);
    // In page order: the kernels of each conv layer, then its feature maps.
    const figures = ['learning-curves', 'weight-histograms', 'kernels-conv2d', 'maps-conv2d', 'kernels-conv2d_1', 'maps-conv2d_1', 'per-class-delta', 'confusion-delta'];
    for (const view of views) {
      expectWholePage(view, html, SECTIONS, figures);
      expect(view.text).toContain('What changed from A to B');
      expect(view.text).toContain('Ankle boot');
    }
  });
});

describe('the diff page in Korean (--lang ko)', () => {
  let out: string;
  let phone: LanguageView;
  let english: string;

  beforeAll(async () => {
    const t0 = performance.now();
    out = join(root, 'diff-ko');
    const r = diff('a', 'b', '--out', out, '--lang', 'ko');
    expect(r.code, r.stderr).toBe(0);
    phone = await readPageLanguage(join(out, 'diff.html'), 390, process.env.KEEP_FIXTURE ? join(root, 'diff-ko-phone.png') : undefined);
    english = await readFile(join(ab.out, 'summary.md'), 'utf8');
    console.log(`the Korean diff page: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });

  it('has no English sentence outside code, layer names and numbers, in its text or its figures', async () => {
    expect(phone.lang).toBe('ko');
    const stats = await readJsonFile<WeightStats>(join(runDir('a'), 'weights', 'stats.json'));
    const allowed = new Set([...Object.keys(stats.trained), 's', 'B', 'kB', 'MB']);
    const runs = [...phone.texts, ...phone.figureTexts].flatMap((t) => englishRuns(t, allowed).map((run) => `${run}  (in: ${t.slice(0, 80)})`));
    expect(runs).toEqual([]);
    const en = flatCatalog(loadCatalog('en'));
    const ko = flatCatalog(loadCatalog('ko'));
    expect(englishMessages([...phone.texts, ...phone.figureTexts], en, ko)).toEqual([]);
    expect(phone.otherLangs).toEqual([]);
    // Not vacuous: the page's sentences and the figures' titles, axes and legends were read.
    expect(phone.texts).toContain(ko['diff.title']);
    for (const key of ['figures.curves.epoch', 'figures.evaluation.true_class', 'figures.evaluation.delta_accuracy', 'figures.weight']) expect(phone.figureTexts).toContain(ko[key]);
    expect(phone.texts.join('\n')).toContain('앵클 부츠');
  });

  it('fits a phone: nothing is wider than 390 px outside a box that scrolls, and no Korean figure text is cut off', () => {
    expect(phone.overflowX).toBeLessThanOrEqual(0);
    expect(phone.overflowing).toEqual([]);
    expect(phone.clipped).toEqual([]);
  });

  it('writes summary.md in Korean with the same numbers, and summary.json with the same names', async () => {
    const md = await readFile(join(out, 'summary.md'), 'utf8');
    const summary = await readJsonFile<SummaryJson>(join(out, 'summary.json'));
    const acc = summary.metrics['test.accuracy'];
    expect(md).toContain(`| test.accuracy | ${acc.a.toFixed(4)} | ${acc.b.toFixed(4)} |`);
    expect(md).toContain('| 지표 | A | B | Δ (B − A) |');
    expect(md).toContain(`**바뀐 매개변수:** seed ${ab.summary.params[0].a} → ${ab.summary.params[0].b}`);
    expect(md).toContain('| train.seconds (시간 측정) |');
    expect(englishRuns(md)).toEqual([]);
    expect(englishRuns(english).length).toBeGreaterThan(3);
    expect(Object.keys(summary.metrics)).toEqual(Object.keys(ab.summary.metrics));
  });
});

describe('a run folder whose name is markup', () => {
  it('shows the name as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.pwned=1">';
    const copy = join(root, 'odd', hostile);
    await cp(runDir('b'), copy, { recursive: true });
    const out = join(root, 'diff-hostile');
    const r = diff('a', copy, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const html = join(out, 'diff.html');
    const [view] = await viewPage(html, [{ width: 1280 }]);
    expect(view.errors).toEqual([]);
    expect(view.injected).toBe(0);
    expect(view.scripts).toBe(0);
    expect(view.text).toContain(copy);
  });
});

describe('the same seed twice', () => {
  let out: string;
  let summary: SummaryJson;
  let context: DiffContext;

  beforeAll(async () => {
    out = join(root, 'diff-same');
    const r = diff('a', 'a-again', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    summary = await readJsonFile<SummaryJson>(join(out, 'summary.json'));
    context = await readJsonFile<DiffContext>(join(out, 'diff.json'));
  });

  it('finds bit-identical weights and a zero delta for every metric but the timings', () => {
    expect(summary.weights.identical).toBe(true);
    expect(summary.weights.maxAbsDelta).toBe(0);
    expect(summary.params).toEqual([]);
    const entries = Object.entries(summary.metrics);
    const timings = entries.filter(([, m]) => m.timing).map(([k]) => k);
    // Wall-clock times differ between any two runs; they are flagged, never counted as a change.
    expect(timings).toEqual(expect.arrayContaining(['train.seconds', 'train.samples_per_s', 'steps.train.seconds']));
    expect(timings.every((k) => k.startsWith('train.') || k.startsWith('steps.'))).toBe(true);
    const changed = entries.filter(([, m]) => !m.timing && m.delta !== 0).map(([k]) => k);
    expect(changed).toEqual([]);
    expect(entries.filter(([, m]) => !m.timing).length).toBeGreaterThanOrEqual(6 + 16);
    expect(context.evaluation.per_class.every((p) => p.delta === 0)).toBe(true);
    expect(context.evaluation.moved_images).toBe(0);
    expect(context.weights.tensors.every((t) => t.identical && t.max_abs_delta === 0 && t.mean.delta === 0 && t.std.delta === 0)).toBe(true);
  });

  it('matches the filters as the identity with similarity 1', () => {
    for (const m of summary.weights.conv_match) {
      expect(m.identity).toBe(true);
      expect(m.perm).toEqual(Array.from({ length: m.perm.length }, (_, i) => i));
      expect(m.mean_similarity).toBe(1);
      expect(m.min_similarity).toBe(1);
    }
  });
});

describe('the assignment on a real run', () => {
  it("recovers a known random permutation of a run's filters exactly, carried from conv2d into conv2d_1", async () => {
    // A copy of run a whose conv filters are permuted as a second training could have ordered
    // them: conv2d's filters by p1 (and conv2d_1's input channels with them), conv2d_1's by p2.
    const copy = join(root, 'permuted');
    await cp(runDir('a'), copy, { recursive: true });
    const p1 = Array.from(permutation(32, 11));
    const p2 = Array.from(permutation(64, 12));
    const w = (layer: string, kind: string) => join(copy, 'weights', 'trained', layer, `${kind}.npy`);
    const permute = async (path: string, axis: -1 | -2, perm: number[]) => {
      const t = await readNpy(path);
      await writeNpy(path, permuteAxis(t.data, t.shape, axis, perm), t.shape);
    };
    await permute(w('conv2d', 'kernel'), -1, p1);
    await permute(w('conv2d', 'bias'), -1, p1);
    await permute(w('conv2d_1', 'kernel'), -2, p1);
    await permute(w('conv2d_1', 'kernel'), -1, p2);
    await permute(w('conv2d_1', 'bias'), -1, p2);
    const index = await readJsonFile<FeatureIndex>(join(copy, 'feature-maps', 'index.json'));
    const sample = index.samples.find((s) => s.id === index.untrained.sample)!;
    for (const [layer, perm] of [['conv2d', p1], ['conv2d_1', p2]] as const) {
      await permute(join(copy, 'feature-maps', sample.layers.find((l) => l.layer === layer)!.file), -1, perm);
    }

    // The unit: the assignment alone undoes p1.
    const ka = await readNpy(join(runDir('a'), 'weights', 'trained', 'conv2d', 'kernel.npy'));
    const kb = await readNpy(w('conv2d', 'kernel'));
    const inverse = (p: number[]) => p.reduce((inv, src, dst) => ((inv[src] = dst), inv), new Array<number>(p.length));
    expect(matchFilters(ka.data, kb.data, ka.shape).perm).toEqual(inverse(p1));

    // End to end: both layers recovered exactly, with similarity 1.
    const out = join(root, 'diff-permuted');
    const r = diff('a', copy, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const summary = await readJsonFile<SummaryJson>(join(out, 'summary.json'));
    expect(summary.weights.identical).toBe(false);
    const [m1, m2] = summary.weights.conv_match;
    expect(m1.perm).toEqual(inverse(p1));
    expect(m2.perm).toEqual(inverse(p2));
    for (const m of [m1, m2]) {
      expect(m.identity).toBe(false);
      expect(m.min_similarity).toBeCloseTo(1, 12);
    }
    // Matched pairs side by side are the same kernel, and the matched feature maps the same maps.
    const kernels = await readJsonFile(join(out, 'kernels-conv2d.vl.json'));
    const cells: Json[] = kernels.layer[0].data.values;
    const panel = (label: string) => cells.filter((c) => c.panel === label).map((c) => [c.filter, c.i, c.j, c.value]);
    expect(panel('A (a)')).toHaveLength(32 * 9);
    expect(panel('B (permuted)')).toEqual(panel('A (a)'));
    for (const layer of ['conv2d', 'conv2d_1']) {
      const maps = await readJsonFile(join(out, `maps-${layer}.vl.json`));
      const urls = (i: number) => maps.hconcat[i].data.values.map((t: Json) => t.url);
      expect(urls(0)).toHaveLength(layer === 'conv2d' ? 32 : 64);
      expect(urls(1)).toEqual(urls(0));
    }
  });
});

describe('--fail-on', () => {
  it('exits 1 after writing everything when a rule holds, listing the failed rules', async () => {
    const out = join(root, 'diff-rules');
    // An earlier diff in the folder is replaced whole.
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'summary.json'), '{}');
    await writeFile(join(out, 'stale.txt'), 'from before');
    // Same seed: every model delta is exactly 0, so "== 0" must hold and "< -0.5" must not.
    const r = diff('a', 'a-again', '--out', out, '--fail-on', 'test.accuracy == 0', '--fail-on', 'val.loss < -0.5');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 of 2 --fail-on rule(s) hold');
    expect(r.stderr).toContain('test.accuracy == 0');
    expect(r.stderr).not.toContain('val.loss < -0.5');
    const summary = await readJsonFile<SummaryJson>(join(out, 'summary.json'));
    expect(summary.rules).toEqual(['test.accuracy == 0', 'val.loss < -0.5']);
    expect(summary.failed).toEqual(['test.accuracy == 0']);
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain('**Failed rules:** `test.accuracy == 0`');
    expect(await exists(join(out, 'stale.txt'))).toBe(false);
    expect((await stat(join(out, 'diff.html'))).size).toBeGreaterThan(10_000);
    await expectFigures(out, ['learning-curves', 'kernels-conv2d', 'maps-conv2d', 'confusion-delta']);
  });

  it('passes (exit 0) when no rule holds', () => {
    // the diff of a and b, made with two rules that do not hold (beforeAll)
    expect(ab.result.code, ab.result.stderr).toBe(0);
    expect(ab.summary.rules).toEqual(RULES_THAT_DO_NOT_HOLD);
    expect(ab.summary.failed).toEqual([]);
  });

  it.each([
    [['test.acc < 0'], /unknown metric "test.acc"; known: test.accuracy, test.loss, val.accuracy, val.loss, best_epoch/],
    [['test.accuracy <'], /is not a rule: write "<metric> <op> <number>"/],
  ])('exits 2 on a bad rule %j, writing nothing', async (rules, message) => {
    const out = join(root, 'diff-bad-rule');
    const r = diff('a', 'b', '--out', out, ...rules.flatMap((x) => ['--fail-on', x]));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(await exists(out)).toBe(false);
  });
});

describe('bad input exits 2, naming what is missing', () => {
  it('a missing run', async () => {
    const out = join(root, 'diff-missing');
    const r = diff('a', 'nope', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no run "nope": neither ${join(artifacts, 'runs', 'nope')} nor nope is a run folder`);
    expect(await exists(out)).toBe(false);
  });

  it('an incomplete run (weights/stats.json deleted from a copy)', async () => {
    const copy = join(root, 'incomplete');
    await cp(runDir('b'), copy, { recursive: true });
    await rm(join(copy, 'weights', 'stats.json'));
    const out = join(root, 'diff-incomplete');
    const r = diff('a', copy, '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`run ${copy} is incomplete: missing ${join(copy, 'weights', 'stats.json')}`);
    expect(await exists(out)).toBe(false);
  });

  it('a run whose weights tensor is gone', async () => {
    const copy = join(root, 'no-tensor');
    await cp(runDir('b'), copy, { recursive: true });
    const stats = await readJsonFile<WeightStats>(join(copy, 'weights', 'stats.json'));
    const tensor = join(copy, 'weights', stats.trained.conv2d_1.kernel.file);
    await rm(tensor);
    const r = diff(copy, 'a', '--out', join(root, 'diff-no-tensor'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`missing ${tensor}`);
  });

  it.each([
    [['a'], /give two runs to compare \(run ids or run folders\), got 1/],
    [['a', 'b', 'c'], /give exactly two runs to compare, got 3/],
    [['a', 'b', '--bogus'], /Unknown option '--bogus'/],
    [['a', 'b', '--lang', 'fr'], /--lang "fr" is not valid: use one of en, ko/],
    [['a', 'b', '--out', ''], /--out needs a folder/],
  ])('bad usage %j', (args, message) => {
    expect(() => parseDiffCli(args)).toThrow(UsageError);
    expect(() => parseDiffCli(args)).toThrow(message);
  });

  it('bad usage on the command line: exit 2 with a pointer to --help', () => {
    const r = diff('a');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: give two runs to compare');
    expect(r.stderr).toContain('Run `npm run diff -- --help` for the options.');
  });

  it('an --out folder that holds other things is never wiped', async () => {
    const out = join(root, 'precious');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    const r = diff('a', 'b', '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--out ${out} holds other files and no earlier diff`);
    expect(await readdir(out)).toEqual(['keep.txt']);
  });

  it('prints its help', () => {
    const r = diff('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: npm run diff -- <runA> <runB> [options]');
    expect(r.stdout).toContain('--fail-on "<rule>"');
  });
});

describe('default output folder', () => {
  it('parses repeated --fail-on and names the folder after both run ids, in a safe character set', () => {
    const o = parseDiffCli(['x', 'y', '--fail-on', 'test.accuracy < 0', '--fail-on', 'val.loss > 1']);
    expect(o).toEqual({ help: false, a: 'x', b: 'y', out: undefined, failOn: ['test.accuracy < 0', 'val.loss > 1'], artifacts: 'artifacts', lang: 'en' });
    expect(defaultDiffName('quick', 'pr-12')).toBe('quick__pr-12');
    expect(defaultDiffName('a b/c', '..')).toBe('a_b_c___');
  });

  it('goes under <artifacts>/diffs/<A>__<B>', async () => {
    // the diff of a and b, made without --out (beforeAll)
    expect(ab.result.code, ab.result.stderr).toBe(0);
    expect(ab.result.stdout).toContain(`wrote ${join(artifacts, 'diffs', 'a__b')}`);
    expect(await exists(join(artifacts, 'diffs', 'a__b', 'summary.json'))).toBe(true);
  });
});
