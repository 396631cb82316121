/**
 * The report as a reader sees it: Debian's chromium opens report.html from disk, at a laptop's
 * and a phone's width. Set REPORT_RUN_DIR=<run folder> to run the same check on a real run's
 * report (its screenshots land in that folder); KEEP_FIXTURE=1 keeps the test's own run folder.
 */
import { readFileSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readJson, runCli, tempDir } from './helpers.js';
import type { FigureIndex, Metrics } from '../pipeline/catalog/schema.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { loadCatalog, message } from '../pipeline/render/messages.js';
import { buildReportContext, loadReportInputs, renderReport, reportStep, type ReportContext } from '../steps/report.js';
import { expectWholePage, parseSvgs, viewPage, type PageView } from './helpers/browser-check.js';
import { englishMessages, englishRuns, flatCatalog, readPageLanguage, type LanguageView } from './helpers/language-check.js';
import { copyTinyRun, stepContext, type ReportRun } from './helpers/report-run.js';

const SECTIONS = ['weights', 'functional-api', 'feature-maps', 'beyond', 'training', 'evaluation', 'run'];
/** Units a Korean page keeps as they are (SI and the byte's). */
const UNITS = ['s', 'B', 'kB', 'MB'];
const HOSTILE_ID = '<script>window.pwned = 1</script>';
const HOSTILE_ATTR = '"><img src=x onerror="window.pwned = 2">';

function expectWholeReport(view: PageView, htmlPath: string, figures: FigureIndex): void {
  expectWholePage(view, htmlPath, SECTIONS, figures.figures.map((f) => f.name));
}

async function pngSize(path: string): Promise<[number, number]> {
  const png = PNG.sync.read(await readFile(path));
  return [png.width, png.height];
}

describe('the report in a real browser', () => {
  let run: ReportRun;
  let store: RunStore;
  let figures: FigureIndex;

  beforeAll(async () => {
    run = await copyTinyRun('report');
    store = run.store;
    await reportStep.run(stepContext(reportStep, run.params, store));
    figures = await readJson<FigureIndex>(store.figures.index.path);
  });
  // KEEP_FIXTURE=1 keeps the run folder (and its screenshots report.png, report-phone.png) to look at.
  afterAll(async () => {
    if (process.env.KEEP_FIXTURE) console.log(`kept ${store.runDir}`);
    else await run?.cleanup();
  });

  it('shows every section and figure at laptop and phone widths, from disk, with no request and no error', async () => {
    const [laptop, phone] = await viewPage(store.reportHtml.path, [
      { width: 1280, screenshot: store.reportScreenshot },
      { width: 390, screenshot: store.reportScreenshotPhone },
    ]);
    expectWholeReport(laptop, store.reportHtml.path, figures);
    expectWholeReport(phone, store.reportHtml.path, figures);
    // At a laptop's width the figures show at their own size; on a phone they shrink to the width.
    const confusion = figures.figures.find((f) => f.name === 'confusion')!;
    expect(laptop.figures.find((f) => f.name === 'confusion')!.width).toBeCloseTo(confusion.width, 0);
    for (const f of phone.figures) expect(f.width).toBeLessThanOrEqual(390);
    expect(laptop.text).toContain('1 Weight visualization');
    expect(laptop.text).toContain('tf.model({inputs: model.inputs, outputs: model.layers[0].output})');
    // The reader sees the run's own test accuracy on its card; the book's shows once, where the page says it is the book's.
    const metrics = await readJson<Metrics>(store.metrics.path);
    const accuracy = `${(metrics.test.accuracy * 100).toFixed(2)}%`;
    expect(accuracy).not.toBe('91.25%');
    expect(laptop.text).toContain(`${accuracy}\ntest accuracy`);
    expect(laptop.text.split('91.25%')).toHaveLength(2);
    expect(laptop.text).toContain("the book's notebook: test loss 0.2517, accuracy 91.25%");
    const [w1, h1] = await pngSize(store.reportScreenshot);
    const [w2, h2] = await pngSize(store.reportScreenshotPhone);
    expect([w1, w2]).toEqual([1280, 390]);
    expect(h1).toBeGreaterThan(5000);
    expect(h2).toBeGreaterThan(h1 * 0.8);
    console.log(`screenshots: ${store.reportScreenshot} (${w1} x ${h1}), ${store.reportScreenshotPhone} (${w2} x ${h2})`);
  });

  it("parses every figure's SVG with the browser's XML parser", async () => {
    const { svgs } = await store.figures.readSvgs();
    expect(await parseSvgs([...svgs.values()])).toEqual([...svgs.keys()].map(() => null));
    expect((await parseSvgs(['<svg xmlns="http://www.w3.org/2000/svg"><g></svg>']))[0]).not.toBeNull();
  });

  it('shows markup in a run id, git commit or class name as text, never as markup', async () => {
    const inputs = await loadReportInputs(reportStep.inputs(store), store.runId, 'en');
    inputs.manifest = { ...run.manifest, run_id: HOSTILE_ID, git_commit: HOSTILE_ATTR };
    const ctx = buildReportContext(inputs);
    ctx.evaluation.per_class[0].name = HOSTILE_ID;
    ctx.maps.classes[0].class_name = HOSTILE_ATTR;
    const { svgs } = await store.figures.readSvgs();
    const path = join(run.root, 'hostile.html');
    await writeFile(path, await renderReport(ctx, svgs));
    const [view] = await viewPage(path, [{ width: 1280 }]);
    expectWholeReport(view, path, figures);
    expect(view.text).toContain(`run ${HOSTILE_ID}`);
    expect(view.text).toContain(HOSTILE_ATTR);
    expect(view.text.split(HOSTILE_ID).length - 1).toBeGreaterThanOrEqual(3);
  });

});

/**
 * The Korean report as `--lang ko` makes it: the real CLI on a copy of the tiny run, which re-runs
 * only the figures and the report (the language is in no other step's fingerprint).
 */
describe('the report in Korean (--lang ko)', () => {
  let root: string;
  let store: RunStore;
  let ran: string[];
  let phone: LanguageView;
  let context: ReportContext;
  const started = performance.now();

  beforeAll(async () => {
    root = tempDir('cnn-lens-report-ko-');
    const tiny = inject('tinyRun');
    store = new RunStore(join(root, 'artifacts'), basename(tiny));
    await cp(tiny, store.runDir, { recursive: true });
    // The suite's verified dataset cache (its files and manifest) beside the copy, as the tiny run
    // has it: every step checks its inputs, and the download step finds its cache up to date.
    await mkdir(store.dataDir, { recursive: true });
    for (const name of await readdir(inject('datasetDir'))) await symlink(join(inject('datasetDir'), name), join(store.dataDir, name));
    const r = runCli('pipeline/main.ts', [...inject('tinyArgs'), '--artifacts', store.artifacts, '--lang', 'ko', '--json']);
    if (r.code !== 0) throw new Error(`pipeline --lang ko failed (${r.code}): ${r.stderr}`);
    ran = (JSON.parse(r.stdout) as { ran: { step: string }[] }).ran.map((s) => s.step);
    context = await readJson<ReportContext>(store.reportJson.path);
    const keep = process.env.KEEP_FIXTURE;
    phone = await readPageLanguage(store.reportHtml.path, 390, keep ? join(store.runDir, 'report-ko-phone.png') : undefined);
    if (keep) await readPageLanguage(store.reportHtml.path, 1280, join(store.runDir, 'report-ko.png'));
  });
  afterAll(async () => {
    console.log(`the Korean report: ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
    if (process.env.KEEP_FIXTURE) console.log(`kept ${store.runDir}`);
    else await rm(root, { recursive: true, force: true });
  });

  it('re-runs only the figures and the report', () => {
    expect(ran).toEqual(['figures', 'report']);
    expect(context.lang).toBe('ko');
  });

  it('has no English sentence outside code, layer names and numbers, in its text or its figures', () => {
    expect(phone.lang).toBe('ko');
    expect(phone.title).toBe(`${message(loadCatalog('ko'), 'report.titles.page')} — ${store.runId}`);
    const allowed = new Set([...context.model.layers.map((l) => l.name), ...UNITS]);
    const english = [...phone.texts, ...phone.figureTexts].flatMap((t) => englishRuns(t, allowed).map((run) => `${run}  (in: ${t.slice(0, 80)})`));
    expect(english).toEqual([]);
    // Nor a word of the English catalog where the Korean one has its own: headers, axis titles, legends.
    const en = flatCatalog(loadCatalog('en'));
    const ko = flatCatalog(loadCatalog('ko'));
    expect(englishMessages([...phone.texts, ...phone.figureTexts], en, ko)).toEqual([]);
    // Not vacuous: the checks saw the page's sentences and the figures' titles, axes and legends.
    for (const t of ['1 가중치 시각화', '2 함수형 API', '3 특성 맵 시각화', '앵클 부츠', '티셔츠']) expect(phone.texts.join('\n')).toContain(t);
    for (const key of ['figures.curves.epoch', 'figures.curves.loss', 'figures.evaluation.true_class', 'figures.trained', 'figures.weight']) {
      expect(phone.figureTexts).toContain(ko[key]);
    }
    expect(phone.texts.length).toBeGreaterThan(300);
    expect(phone.figureTexts.length).toBeGreaterThan(200);
    // The sentence rule can fail: it finds the English page's own sentences.
    expect(englishRuns(`${message(loadCatalog('en'), 'report.functional.axes')} conv2d 28 × 28`)).toHaveLength(1);
  });

  it('marks its language: <html lang="ko">, and lang="en" only on what run.json recorded in English', () => {
    expect(phone.otherLangs).toEqual([]);
    const manifest = JSON.parse(readFileSync(store.runJson, 'utf8')) as RunManifest;
    expect(phone.recorded).toEqual([manifest.backend_reason]);
  });

  it('fits a phone: nothing is wider than 390 px outside a box that scrolls, and no Korean figure text is cut off', () => {
    expect(phone.overflowX).toBeLessThanOrEqual(0);
    expect(phone.overflowing).toEqual([]);
    expect(phone.clipped).toEqual([]);
  });

  it('writes dates the Korean way and numbers with comma groups', () => {
    const manifest = JSON.parse(readFileSync(store.runJson, 'utf8')) as RunManifest;
    const d = new Date(manifest.created);
    const h = d.getUTCHours();
    const korean = `${d.getUTCFullYear()}년 ${d.getUTCMonth() + 1}월 ${d.getUTCDate()}일 ${h < 12 ? '오전' : '오후'} ${h % 12 === 0 ? 12 : h % 12}:${String(d.getUTCMinutes()).padStart(2, '0')} UTC`;
    expect(phone.texts).toContain(korean);
    expect(phone.texts.join('\n')).not.toContain(manifest.created);
    expect(phone.texts).toContain('333,526');
  });
});

describe.runIf(Boolean(process.env.REPORT_RUN_DIR))("a real run's report (REPORT_RUN_DIR)", () => {
  it('passes the same check', async () => {
    const dir = process.env.REPORT_RUN_DIR!;
    const html = join(dir, 'report.html');
    const index = await readJson<FigureIndex>(join(dir, 'figures', 'index.json'));
    const [laptop, phone] = await viewPage(html, [
      { width: 1280, screenshot: join(dir, 'report.png') },
      { width: 390, screenshot: join(dir, 'report-phone.png') },
    ]);
    expectWholeReport(laptop, html, index);
    expectWholeReport(phone, html, index);
  });
});
