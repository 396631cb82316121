import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson } from './helpers.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { formatInt } from '../pipeline/render/report-html.js';
import { formatterOf } from '../pipeline/render/format.js';
import { CLASS_NAMES, type AttentionIndex, type MistakesIndex, type FeatureIndex, type FigureIndex, type History, type Metrics, type WeightStats } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { STEP_NAMES } from '../steps/index.js';
import { buildReportContext, loadReportInputs, renderReport, reportStep, type ReportContext } from '../steps/report.js';
import { loadCatalog, message } from '../pipeline/render/messages.js';
import { copyTinyRun, stepContext, type ReportRun } from './helpers/report-run.js';
import { pathsOf } from './helpers/step-context.js';

const SECTIONS = ['weights', 'functional-api', 'feature-maps', 'training', 'evaluation', 'run'];
const HOSTILE_ID = '<script>alert(1)</script>';
const HOSTILE_ATTR = '"><img src=x onerror=alert(1)>';

/**
 * The book's own results (REFERENCE.md), which the page prints as a reference, each inside an
 * element marked data-source="book"; the run's numbers must show everywhere else.
 */
const BOOK = [
  "The book's own run stopped after 8 epochs with best epoch 6 (validation loss 0.2193, accuracy 92.01%).",
  "the book's notebook: test loss 0.2517, accuracy 91.25%",
];
const BOOK_NUMBERS = ['0.2193', '92.01%', '0.2517', '91.25%'];
const BOOK_ELEMENT = /<span data-source="book">([^<]*)<\/span>/g;

// The template's number helpers (pipeline/render/report-html.ts), to write a file's number as the page shows it.
const pct = (v: number, digits = 2) => `${(v * 100).toFixed(digits)}%`;
const fixed = (v: number, digits = 4) => v.toFixed(digits);
const secondsOf = (v: number) => (v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`);
const shape = (s: number[]) => `(${s.join(', ')})`;

/** Positions of the sections' opening tags, in the order SECTIONS lists them. */
function sectionOrder(html: string): number[] {
  return SECTIONS.map((id) => html.indexOf(`<section id="${id}"`));
}

/** The page without its style sheet and figures: the markup that carries its text. */
const withoutFigures = (page: string) => page.replace(/<style>[\s\S]*?<\/style>/g, '').replace(/<svg[\s\S]*?<\/svg>/g, '');

/** The rows of a section's `nth` table body (0: the first), one string per row. */
function tableRows(page: string, section: string, nth = 0): string[] {
  const start = page.indexOf(`<section id="${section}"`);
  const body = page.slice(start, page.indexOf('</section>', start));
  const tables = [...body.matchAll(/<tbody>\n([\s\S]*?)<\/tbody>/g)];
  return tables[nth][1].trim().split('\n');
}

let run: ReportRun;
let store: RunStore;
let html: string;
let context: ReportContext;
// The run's own numbers, as the pipeline wrote them.
let metrics: Metrics & { val: NonNullable<Metrics['val']> }; // a trained run has validation figures
let history: History;
let stats: WeightStats;
let features: FeatureIndex;
let attention: AttentionIndex;
let mistakes: MistakesIndex;

beforeAll(async () => {
  run = await copyTinyRun('report');
  store = run.store;
  await reportStep.run(stepContext(reportStep, run.params, store));
  html = await readFile(store.reportHtml.path, 'utf8');
  context = await readJson<ReportContext>(store.reportJson.path);
  metrics = await readJson<typeof metrics>(store.metrics.path);
  history = await readJson<History>(store.history.path);
  stats = await readJson<WeightStats>(store.weights.index.path);
  features = await readJson<FeatureIndex>(store.featureMaps.index.path);
  attention = await readJson<AttentionIndex>(store.attention.index.path);
  mistakes = await readJson<MistakesIndex>(store.mistakes.index.path);
});

/** The mean of a field over the class samples (all but the chapter's), where it is known. */
function classMean(field: (s: AttentionIndex['samples'][number]) => number | null): number {
  const known = attention.samples.slice(1).map(field).filter((v): v is number => v !== null);
  return known.reduce((a, b) => a + b, 0) / known.length;
}
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
      store.filterPatterns.index.path,
      store.attention.index.path,
      store.mistakes.index.path,
      store.ownImages.index.path,
      join(store.runDir, 'figures'),
    ]);
    // run.json changes around every step; reading it into the fingerprint would redo the report each time
    expect(pathsOf(reportStep.inputs(store))).not.toContain(store.runJson);
  });

  it("is driven by a real run whose numbers differ from the book's, so that finding one on the page proves where it came from", () => {
    expect(run.manifest.steps.checkpoint?.status).toBe('ok');
    const best = history.rows.find((r) => r.epoch === history.best_epoch)!;
    const ours = [fixed(best.val_loss), pct(best.val_accuracy), fixed(metrics.test.loss), pct(metrics.test.accuracy), pct(metrics.val.accuracy), fixed(metrics.val.loss)];
    for (const n of BOOK_NUMBERS) expect(ours).not.toContain(n);
    expect([history.rows.length, history.best_epoch]).not.toEqual([8, 6]);
    expect(metrics.best_epoch).toBe(history.best_epoch);
  });

  it("builds its context (report.json) from the run's artifacts, with the run's own numbers", () => {
    // Words come from the catalog at render time; report.json holds data only.
    expect(html).toContain(`<h1 lang="en">${message(loadCatalog('en'), 'report.titles.page')}</h1>`);
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
    expect(context.training).toMatchObject({
      rows: history.rows,
      epochs_run: history.rows.length,
      best_epoch: history.best_epoch,
      stopped_early: history.stopped_early,
      max_epochs: run.params.epochs,
      patience: run.params.patience,
      batch_size: run.params.batchSize,
    });
    expect(context.training!.best).toEqual(history.rows.find((r) => r.epoch === history.best_epoch));
    expect(context.evaluation.val).toEqual(metrics.val);
    expect(context.evaluation.test).toEqual(metrics.test);
    expect(context.evaluation.per_class).toEqual(
      metrics.per_class_accuracy.map((accuracy, i) => ({ name: CLASS_NAMES.en[i], accuracy, right: metrics.confusion[i][i], total: metrics.confusion[i].reduce((a, b) => a + b, 0) })),
    );
    expect(context.evaluation.worst!.accuracy).toBe(Math.min(...metrics.per_class_accuracy));
    expect(context.evaluation.best!.accuracy).toBe(Math.max(...metrics.per_class_accuracy));
    for (const l of context.weights.layers) {
      const { mean, std, min, max } = stats.trained[l.layer].kernel;
      expect(l.trained).toEqual({ mean, std, min, max });
      expect(l.untrained.std).toBe(stats.untrained[l.layer].kernel.std);
    }
    expect(context.weights.layers.map((l) => l.layer)).toEqual(Object.keys(stats.trained));
    // Every step but the report itself, in pipeline order.
    expect(context.run.steps.map((s) => s.name)).toEqual(STEP_NAMES.filter((s) => s !== 'report'));
    expect(context.run.dataset.map((d) => d.sha256)).toContain('c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888');
    expect(context.run.git_commit).toBe(run.manifest.git_commit);
  });

  it("shows the run's test accuracy, test loss, validation accuracy and best epoch in its cards, not the book's", () => {
    const card = (name: string) => new RegExp(`<div class="v" data-value="${name.replace('.', '\\.')}">([^<]*)</div>`).exec(html)?.[1];
    expect(card('test.accuracy')).toBe(pct(metrics.test.accuracy));
    expect(card('test.loss')).toBe(fixed(metrics.test.loss));
    expect(card('val.accuracy')).toBe(pct(metrics.val.accuracy));
    expect(card('best_epoch')).toBe(`${history.best_epoch} / ${history.rows.length}`);
    expect(card('total_params')).toBe(formatInt(context.model.total_params));
  });

  it("shows history.json: the training sentence and one table row per epoch", () => {
    const best = history.rows.find((r) => r.epoch === history.best_epoch)!;
    const n = history.rows.length;
    const text = withoutFigures(html);
    expect(text).toContain(`Training ran ${n} epoch${n === 1 ? '' : 's'} of at most ${run.params.epochs}, in batches of ${run.params.batchSize}, in ${secondsOf(history.rows.reduce((t, r) => t + r.seconds, 0))}.`);
    expect(text).toContain(`${history.stopped_early ? 'restored the best epoch, ' : 'the best epoch by validation loss was '}${history.best_epoch} (validation loss ${fixed(best.val_loss)}, accuracy ${pct(best.val_accuracy)}).`);
    expect(tableRows(html, 'training')).toEqual(
      history.rows.map(
        (r) =>
          `<tr${r.epoch === history.best_epoch ? ' class="best"' : ''}><td class="n">${r.epoch}</td><td class="n">${fixed(r.loss)}</td><td class="n">${fixed(r.accuracy)}</td>` +
          `<td class="n">${fixed(r.val_loss)}</td><td class="n">${fixed(r.val_accuracy)}</td><td class="n">${r.seconds.toFixed(1)}</td><td class="n">${formatInt(r.samples_per_s)}</td></tr>`,
      ),
    );
  });

  it('shows metrics.json: the evaluation sentence, the hardest and easiest class, and one table row per class', () => {
    const { val, test } = metrics;
    const text = withoutFigures(html);
    expect(text).toContain(
      `scores validation loss ${fixed(val.loss)} and accuracy ${pct(val.accuracy)} on ${formatInt(val.count)} held-out training images, ` +
        `and test loss ${fixed(test.loss)} and accuracy ${pct(test.accuracy)} on the ${formatInt(test.count)} test images`,
    );
    // Which of several equally hard classes is named is the page's choice; its accuracy is the file's.
    const [, worst, worstPct, easiest, easiestPct] = /The hardest class is ([^(]+) \(([^ ]+) right\), the easiest ([^(]+) \(([^)]+)\)\./.exec(text)!;
    expect(worstPct).toBe(pct(Math.min(...metrics.per_class_accuracy), 1));
    expect(easiestPct).toBe(pct(Math.max(...metrics.per_class_accuracy), 1));
    expect(pct(metrics.per_class_accuracy[CLASS_NAMES.en.indexOf(worst as never)], 1)).toBe(worstPct);
    expect(pct(metrics.per_class_accuracy[CLASS_NAMES.en.indexOf(easiest as never)], 1)).toBe(easiestPct);
    expect(tableRows(html, 'evaluation')).toEqual(
      metrics.confusion.map(
        (row, i) => `<tr><td>${CLASS_NAMES.en[i]}</td><td class="n">${formatInt(row[i])}</td><td class="n">${formatInt(row.reduce((a, b) => a + b, 0))}</td><td class="n">${pct(metrics.per_class_accuracy[i], 1)}</td></tr>`,
      ),
    );
  });

  it("shows stats.json: each layer's trained and untrained kernel moments and its Glorot range", () => {
    // The section's first table is the model's layers, the second the weights' statistics.
    expect(tableRows(withoutFigures(html), 'weights', 1)).toEqual(
      Object.keys(stats.trained).map((layer) => {
        const t = stats.trained[layer];
        const u = stats.untrained[layer].kernel;
        const g = stats.glorot[layer];
        const n = (v: string) => `<td class="n">${v}</td>`;
        return (
          `<tr><td><code>${layer}</code></td><td>${shape(t.kernel.shape)}</td><td>${shape(t.bias.shape)}</td>` +
          [t.kernel.mean, t.kernel.std, u.mean, u.std].map((v) => n(fixed(v))).join('') +
          (g ? n(fixed(g.limit)) + n(fixed(g.std)) : n('–') + n('–')) +
          '</tr>'
        );
      }),
    );
    const first = stats.trained.conv2d.kernel;
    expect(withoutFigures(html)).toContain(`Trained, its kernel has mean ${fixed(first.mean)} and standard deviation ${fixed(first.std)}.`);
  });

  it("prints the book's numbers only inside the elements labelled as the book's; every other percentage is one of the run's", () => {
    const text = withoutFigures(html);
    expect([...text.matchAll(BOOK_ELEMENT)].map((m) => m[1])).toEqual(BOOK);
    const rest = text.replace(BOOK_ELEMENT, '').replace(/<[^>]*>/g, ' ');
    for (const n of BOOK_NUMBERS) expect(rest).not.toContain(n);
    const best = history.rows.find((r) => r.epoch === history.best_epoch)!;
    const runs = new Set([
      pct(metrics.test.accuracy),
      pct(metrics.val.accuracy),
      pct(best.val_accuracy),
      ...metrics.per_class_accuracy.map((a) => pct(a, 1)),
      ...features.samples.map((s) => pct(s.probabilities[s.prediction], 1)),
      // Beyond the chapter: Grad-CAM's samples (probability, shares of the image and of the map,
      // their means over the class samples) and the share of test images the model gets wrong.
      ...attention.samples.flatMap((s) => [pct(s.probability, 2), pct(s.probability, 1)]),
      ...attention.samples.flatMap((s) => [s.object_share, s.cam_on_object].filter((v): v is number => v !== null).map((v) => pct(v, 0))),
      ...[classMean((s) => s.object_share), classMean((s) => s.cam_on_object)].map((v) => pct(v, 0)),
      pct(mistakes.mistakes / mistakes.test_images, 1),
    ]);
    const shown = [...rest.matchAll(/\d+(?:\.\d+)?%/g)].map((m) => m[0]);
    expect(shown.filter((p) => !runs.has(p))).toEqual([]);
    // Not vacuous: the cards, the sentences, the per-class table and the samples' probabilities.
    expect(shown.length).toBeGreaterThanOrEqual(5 + metrics.per_class_accuracy.length + features.samples.length);
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

  // Its wall time is the bench's to report (npm run bench -- --rows render), not a test's to race.
  it('stays within the size budget: report.html under 5 MB', () => {
    const bytes = Buffer.byteLength(html);
    console.log(`report.html ${(bytes / 1e6).toFixed(2)} MB; report.json ${(Buffer.byteLength(JSON.stringify(context)) / 1e3).toFixed(1)} kB`);
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
    inputs.manifest = { ...run.manifest, run_id: HOSTILE_ID, git_commit: HOSTILE_ATTR, backend_reason: `<b>${HOSTILE_ATTR}</b>` };
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
    expect(ctx.run).toMatchObject({ id: store.runId, git_commit: null, steps: [], versions: [], seed: null });
    const { svgs } = await store.figures.readSvgs();
    const page = await renderReport(ctx, svgs);
    expect(page).toContain('<tr><th scope="row">git commit</th><td class="hash">unknown</td></tr>');
    expect(ctx.training!.max_epochs).toBeNull();
    const n = history.rows.length;
    expect(page).toContain(`Training ran ${n} epoch${n === 1 ? '' : 's'}, in`);
  });

  it('writes dates for its language: run.json\'s instant as recorded in English, the Korean way in Korean', async () => {
    const created = run.manifest.created;
    expect(withoutFigures(html)).toContain(`, created ${created}, `);
    expect(withoutFigures(html)).toContain(`<tr><th scope="row">created</th><td>${created}</td></tr>`);
    const ko = await renderReport(buildReportContext(await loadReportInputs(reportStep.inputs(store), store.runId, 'ko')), (await store.figures.readSvgs()).svgs);
    // Written out here from the instant's UTC fields, not with Intl: the page's format, checked independently.
    const d = new Date(created);
    const h = d.getUTCHours();
    const korean = `${d.getUTCFullYear()}년 ${d.getUTCMonth() + 1}월 ${d.getUTCDate()}일 ${h < 12 ? '오전' : '오후'} ${h % 12 || 12}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
    expect(ko).toContain(`<tr><th scope="row">생성 시각</th><td>${korean}</td></tr>`);
    expect(ko).toContain(`, 생성 ${korean}, `);
    expect(withoutFigures(ko)).not.toContain(created);
    // Numbers: the same comma groups and percentages in both languages.
    const card = (page: string, name: string) => new RegExp(`data-value="${name}">([^<]*)<`).exec(page)?.[1];
    for (const name of ['test\\.accuracy', 'total_params']) expect(card(ko, name)).toBe(card(html, name));
  });

  it('formats numbers and dates in one module, the same on any machine', () => {
    const ko = formatterOf('ko');
    const en = formatterOf('en');
    expect(ko.date('2026-11-28T23:32:05.123Z')).toBe('2026년 11월 28일 오후 11:32 UTC');
    expect(ko.date('2026-01-02T00:05:00Z')).toBe('2026년 1월 2일 오전 12:05 UTC');
    expect(ko.date('2026-07-01T12:00:00Z')).toBe('2026년 7월 1일 오후 12:00 UTC');
    expect(en.date('2026-11-28T23:32:05.123Z')).toBe('2026-11-28T23:32:05.123Z');
    expect([ko.date(undefined), ko.date('not a date')]).toEqual(['', 'not a date']);
    expect([ko.int(333526), en.int(333526), ko.pct(0.9125), ko.fixed(0.25171, 4)]).toEqual(['333,526', '333,526', '91.25%', '0.2517']);
    expect([ko.seconds(9.123), en.seconds(9.123), ko.seconds(518.04)]).toEqual(['9.12초', '9.12 s', '518.0초']);
    expect([ko.int(null), ko.pct(undefined)]).toEqual(['–', '–']);
  });

  it('formats numbers the same on any locale', () => {
    expect(formatInt(333526)).toBe('333,526');
    expect(formatInt(-1234567.4)).toBe('-1,234,567');
    expect(formatInt(999)).toBe('999');
  });
});
