/**
 * The report as a reader sees it: Debian's chromium opens report.html from disk, at a laptop's
 * and a phone's width. Set REPORT_RUN_DIR=<run folder> to run the same check on a real run's
 * report (its screenshots land in that folder); KEEP_FIXTURE=1 keeps the test's own run folder.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson } from './helpers.js';
import type { FigureIndex, Metrics } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { buildReportContext, loadReportInputs, renderReport, reportStep } from '../steps/report.js';
import { expectWholePage, parseSvgs, viewPage, type PageView } from './helpers/browser-check.js';
import { copyTinyRun, stepContext, type ReportRun } from './helpers/report-run.js';

const SECTIONS = ['weights', 'functional-api', 'feature-maps', 'training', 'evaluation', 'run'];
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

  it("shows the Korean report's section titles and class names", async () => {
    const ctx = buildReportContext(await loadReportInputs(reportStep.inputs(store), store.runId, 'ko'));
    const { svgs } = await store.figures.readSvgs();
    const path = join(run.root, 'ko.html');
    await writeFile(path, await renderReport(ctx, svgs));
    const [view] = await viewPage(path, [{ width: 390 }]);
    expectWholeReport(view, path, figures);
    for (const t of ['1 가중치 시각화', '2 함수형 API', '3 특성 맵 시각화', '앵클 부츠', '티셔츠']) expect(view.text).toContain(t);
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
