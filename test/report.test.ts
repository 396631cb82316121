import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson } from './helpers.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { formatInt } from '../pipeline/render/report-html.js';
import { CLASS_NAMES, type FeatureIndex, type FigureIndex, type WeightStats } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { figuresStep } from '../steps/figures.js';
import { buildReportContext, loadReportInputs, renderReport, reportStep, TITLES, type ReportContext } from '../steps/report.js';
import { HISTORY, makeReportRun, manifest, stepContext, type ReportRun } from './helpers/report-run.js';
import { pathsOf } from './helpers/step-context.js';

const SECTIONS = ['weights', 'functional-api', 'feature-maps', 'training', 'evaluation', 'run'];
const HOSTILE_ID = '<script>alert(1)</script>';
const HOSTILE_ATTR = '"><img src=x onerror=alert(1)>';

/** Positions of the sections' opening tags, in the order SECTIONS lists them. */
function sectionOrder(html: string): number[] {
  return SECTIONS.map((id) => html.indexOf(`<section id="${id}"`));
}

let run: ReportRun;
let store: RunStore;
let html: string;
let context: ReportContext;
let seconds: number;

beforeAll(async () => {
  run = await makeReportRun('en');
  store = run.store;
  const started = performance.now();
  await figuresStep.run(stepContext(figuresStep, run.params, store));
  await reportStep.run(stepContext(reportStep, run.params, store));
  seconds = (performance.now() - started) / 1000;
  html = await readFile(store.reportHtml.path, 'utf8');
  context = await readJson<ReportContext>(store.reportJson.path);
});
afterAll(async () => run?.cleanup());

describe('report step', () => {
  it('writes report.html and report.json at the run folder top, unstaged, depending on the language only', () => {
    expect(reportStep.staged).toBe(false);
    expect(reportStep.params(run.params)).toEqual({ lang: 'en' });
    expect(pathsOf(reportStep.outputs(store))).toEqual([join(store.runDir, 'report.html'), join(store.runDir, 'report.json')]);
    expect(pathsOf(reportStep.inputs(store))).toEqual([
      store.history.path,
      store.metrics.path,
      store.model.modelJson,
      store.weights.index.path,
      store.featureMaps.index.path,
      join(store.runDir, 'figures'),
    ]);
    // run.json changes around every step; reading it into the fingerprint would redo the report each time
    expect(pathsOf(reportStep.inputs(store))).not.toContain(store.runJson);
  });

  it("builds its context from the run's artifacts, with the run's own numbers", async () => {
    const stats = await readJson<WeightStats>(store.weights.index.path);
    const features = await readJson<FeatureIndex>(store.featureMaps.index.path);
    expect(context.titles).toEqual(TITLES.en);
    expect(context.model.total_params).toBe(333_526);
    expect(context.model.layers.map((l) => l.name)).toEqual(['conv2d', 'max_pooling2d', 'conv2d_1', 'max_pooling2d_1', 'flatten', 'dense', 'dropout', 'dense_1']);
    const first = context.weights.first!;
    expect(first.layer).toBe('conv2d');
    expect(first.kernel_shape).toEqual([3, 3, 1, 32]);
    expect(first.trained.std).toBe(stats.trained.conv2d.kernel.std);
    expect(first.untrained.mean).toBe(stats.untrained.conv2d.kernel.mean);
    expect(first.glorot!.limit).toBeCloseTo(Math.sqrt(6 / 297), 12);
    expect(first.ratio).toBeCloseTo(stats.trained.conv2d.kernel.std / stats.untrained.conv2d.kernel.std, 12);
    expect(context.weights.kernels.map((k) => [k.layer, k.figure, k.mean_over_inputs])).toEqual([
      ['conv2d', 'kernels-conv2d', false],
      ['conv2d_1', 'kernels-conv2d_1', true],
    ]);
    expect(context.functional.sub_models.map((s) => s.code)).toEqual([0, 1, 2, 3].map((i) => `tf.model({inputs: model.inputs, outputs: model.layers[${i}].output})`));
    expect(context.functional.sub_models.map((s) => s.shape)).toEqual([[1, 28, 28, 32], [1, 14, 14, 32], [1, 14, 14, 64], [1, 7, 7, 64]]);
    expect(context.maps.sample).toMatchObject({ id: 'train-0', class_name: 'Ankle boot', label: 9 });
    expect(context.maps.layers[0]).toMatchObject({ layer: 'conv2d', figure: 'maps-train-0-conv2d', with_untrained: true, channels: 32 });
    expect(context.maps.layers[0].dead).toBe(features.samples[0].layers[0].channels.filter((c) => c.max <= 0).length);
    expect(context.maps.classes.map((c) => c.class_name)).toEqual([...CLASS_NAMES.en]);
    expect(context.training).toMatchObject({ epochs_run: 8, best_epoch: 6, stopped_early: true, max_epochs: 20, patience: 2, batch_size: 32 });
    expect(context.training.best!.val_loss).toBe(0.2193);
    expect(context.evaluation.test.accuracy).toBe(0.9125);
    expect(context.evaluation.worst).toMatchObject({ name: 'Shirt', right: 745, total: 1000 });
    expect(context.run.steps.map((s) => s.name)).toEqual(['download', 'train', 'checkpoint', 'weights', 'feature-maps', 'figures']);
    expect(context.run.dataset.map((d) => d.sha256)).toContain('c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888');
    expect(context.run.git_commit).toBe('02fe66f0123456789abcdef0123456789abcdef0');
  });

  it('lays the sections out in the chapter order, each with its text and numbers', () => {
    const order = sectionOrder(html);
    expect(order.every((p) => p > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const text = html.replace(/<svg[\s\S]*?<\/svg>/g, '');
    expect(text).toContain('<h2 lang="en">1 Weight visualization</h2>');
    expect(text).toContain('<h2 lang="en">2 Functional API</h2>');
    expect(text).toContain('<h2 lang="en">3 Feature map visualization</h2>');
    const f = context.weights.first!;
    expect(text).toContain(`Trained, its kernel has mean ${f.trained.mean.toFixed(4)} and standard deviation ${f.trained.std.toFixed(4)}`);
    expect(text).toContain('whose standard deviation is limit / √3 = 0.0821');
    expect(text).toContain(`Training made the weights' spread ${f.ratio.toFixed(1)} times the untrained one${f.spread ? ': the flat' : '.'}`);
    expect(text).toContain('<code>tf.model({inputs: model.inputs, outputs: model.layers[0].output})</code>');
    expect(text).toContain('restored the best epoch, 6 (validation loss 0.2193, accuracy 92.01%)');
    expect(text).toContain('test loss 0.2517 and accuracy 91.25% on the 10,000 test images');
    expect(text).toContain('<tr class="total"><td colspan="3">total</td><td class="n">333,526</td>');
    expect(text).toContain("the mean of that filter's 32 input-channel kernels");
  });

  it('inlines every figure the figures step drew, once, and nothing else raw', async () => {
    const index = await readJson<FigureIndex>(store.figures.index.path);
    for (const f of index.figures) {
      const svg = await readFile(join(store.figures.dir, `${f.name}.svg`), 'utf8');
      expect(html.split(svg).length - 1).toBe(1);
      expect(html).toContain(`<figure class="fig" id="fig-${f.name}" data-figure="${f.name}">`);
    }
    expect((html.match(/<svg /g) ?? []).length).toBe(index.figures.length);
  });

  it('is self-contained: inline CSS, no script, no link to anything outside the page', () => {
    const outside = html.replace(/<svg[\s\S]*?<\/svg>/g, '');
    expect(outside).toContain('<style>');
    expect(outside).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
    expect(outside).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(outside).not.toMatch(/\b(src|href)="(?!#)/);
    // Inside the SVGs: the XML namespaces, and images only as data: URLs.
    const urls = [...html.matchAll(/(?:href|src)="([^"#][^"]*)"/g)].map((m) => m[1]);
    expect(urls.length).toBeGreaterThan(100);
    for (const u of urls) expect(u.startsWith('data:image/png;base64,')).toBe(true);
    const http = [...new Set([...html.matchAll(/https?:\/\/[^\s"')<]+/g)].map((m) => m[0]))].sort();
    expect(http).toEqual(['http://www.w3.org/1999/xlink', 'http://www.w3.org/2000/svg']);
  });

  it('stays within the budget: figures + report in under 10 s, report.html under 5 MB', () => {
    const bytes = Buffer.byteLength(html);
    console.log(`figures + report: ${seconds.toFixed(2)} s; report.html ${(bytes / 1e6).toFixed(2)} MB; report.json ${(Buffer.byteLength(JSON.stringify(context)) / 1e3).toFixed(1)} kB`);
    expect(seconds).toBeLessThan(10);
    expect(bytes).toBeLessThan(5e6);
  });

  it('gives the same bytes when run again', async () => {
    const before = await readFile(store.reportHtml.path);
    const json = await readFile(store.reportJson.path);
    await reportStep.run(stepContext(reportStep, run.params, store));
    expect((await readFile(store.reportHtml.path)).equals(before)).toBe(true);
    expect((await readFile(store.reportJson.path)).equals(json)).toBe(true);
  });

  it("gives the book's Korean section titles and class names with lang ko", async () => {
    const inputs = await loadReportInputs(reportStep.inputs(store), store.runId, 'ko');
    const ko = buildReportContext(inputs);
    const { svgs } = await store.figures.readSvgs();
    const page = await renderReport(ko, svgs);
    for (const title of ['가중치 시각화', '함수형 API', '특성 맵 시각화']) expect(page).toContain(title);
    expect(page).toContain('<h1 lang="ko">합성곱 신경망의 시각화</h1>');
    expect(ko.evaluation.per_class.map((c) => c.name)).toEqual([...CLASS_NAMES.ko]);
    expect(page).toContain('<td>앵클 부츠</td>');
    expect(ko.maps.sample.class_name).toBe('앵클 부츠');
  });

  it('escapes every text from the artifacts: markup in a run id or class name shows as text', async () => {
    const inputs = await loadReportInputs(reportStep.inputs(store), store.runId, 'en');
    inputs.manifest = { ...manifest(run.params, HOSTILE_ID), git_commit: HOSTILE_ATTR, backend_reason: `<b>${HOSTILE_ATTR}</b>` };
    const ctx = buildReportContext(inputs);
    ctx.evaluation.per_class[0].name = HOSTILE_ID;
    ctx.maps.classes[0].class_name = HOSTILE_ATTR;
    const { svgs } = await store.figures.readSvgs();
    const page = await renderReport(ctx, svgs);
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
  });

  it('names what is missing when an input is absent', async () => {
    const index = await readFile(store.figures.index.path);
    await rm(store.figures.index.path);
    try {
      const err = await reportStep.run(stepContext(reportStep, run.params, store)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BadInputError);
      expect((err as Error).message).toContain(`missing ${store.figures.index.path}`);
      // the report written before is still whole
      expect(await readFile(store.reportHtml.path, 'utf8')).toBe(html);
    } finally {
      await writeFile(store.figures.index.path, index);
    }
    const svg = join(store.figures.dir, 'confusion.svg');
    const saved = await readFile(svg);
    await writeFile(svg, 'not an svg');
    try {
      await expect(reportStep.run(stepContext(reportStep, run.params, store))).rejects.toThrow(`${svg} is missing or not an SVG`);
    } finally {
      await writeFile(svg, saved);
    }
  });

  it('reads run.json leniently: a run.json without steps or versions still gives a report', async () => {
    const inputs = await loadReportInputs(reportStep.inputs(store), store.runId, 'en');
    inputs.manifest = {};
    const ctx = buildReportContext(inputs);
    expect(ctx.run).toMatchObject({ id: 'fixture', git_commit: 'unknown', steps: [], versions: [], seed: null });
    const { svgs } = await store.figures.readSvgs();
    const page = await renderReport(ctx, svgs);
    expect(page).toContain('<tr><th scope="row">git commit</th><td class="hash">unknown</td></tr>');
    expect(ctx.training.max_epochs).toBeNull();
    expect(page).toContain(`Training ran ${HISTORY.rows.length} epochs, in`);
  });

  it('formats numbers the same on any locale', () => {
    expect(formatInt(333526)).toBe('333,526');
    expect(formatInt(-1234567.4)).toBe('-1,234,567');
    expect(formatInt(999)).toBe('999');
  });
});
