/**
 * Writes a diff's folder: figures, diff.html, diff.json, summary.md and summary.json, all built in
 * a staging folder beside the target and swapped in whole at the end, so a diff that fails half
 * way leaves the previous folder (or none), never a mix.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { BadInputError } from '../core/errors.js';
import { renderFigure, type FigureSpecOf } from '../render/figures/write-figure.js';
import { FigureFolder } from '../catalog/artifacts.js';
import type { Lang } from '../core/params.js';
import { createPageRenderer } from '../render/report-html.js';
import { localeOf } from '../render/locale.js';
import { CLASS_NAMES, type FigureEntry } from '../catalog/schema.js';
import { swapDir, writeFileSafe, writeJson } from '../core/files.js';
import type { Comparison } from './compare.js';
import { buildDiffFigures, type DiffFigureKind } from './figures.js';
import type { LoadedRun } from './load-run.js';
import { buildDiffContext } from './page.js';
import type { Rule } from './rules.js';
import { summaryJson, summaryMarkdown, type SummaryJson } from './summary.js';

export const DIFF_FILES = { html: 'diff.html', context: 'diff.json', summaryMd: 'summary.md', summaryJson: 'summary.json' } as const;

/** Figures whose PNGs summary.md names (the rest are in the folder and the page). */
const MAIN_FIGURES: DiffFigureKind[] = ['learning-curves', 'kernel-pairs', 'per-class-delta', 'confusion-delta'];

export interface DiffJob {
  out: string;
  a: LoadedRun;
  b: LoadedRun;
  comparison: Comparison;
  rules: Rule[];
  failed: Rule[];
  lang: Lang;
}

/**
 * The output folder is replaced whole: refuse one that holds anything but an earlier diff, so a
 * mistyped --out (".", a run folder, a home directory) is never wiped.
 */
export async function checkOutDir(out: string, what = 'diff'): Promise<void> {
  const s = await stat(out).catch(() => null);
  if (!s) return;
  if (!s.isDirectory()) throw new BadInputError(`--out ${out} is a file: give a folder for the ${what} (it is replaced whole)`);
  const entries = await readdir(out);
  if (entries.length > 0 && !entries.includes(DIFF_FILES.summaryJson)) {
    throw new BadInputError(`--out ${out} holds other files and no earlier ${what} (${DIFF_FILES.summaryJson}): the ${what} replaces its folder whole, so give a new or empty folder`);
  }
}

/**
 * Fills a staging folder beside `out` and swaps it in whole at the end (`what` names the command
 * in messages): a command that fails half way leaves the previous folder (or none), never a mix.
 */
export async function writeFolderWhole<T>(out: string, what: string, fill: (staging: string) => Promise<T>): Promise<T> {
  await checkOutDir(out, what);
  const staging = join(dirname(out), `.${basename(out)}.staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  try {
    const result = await fill(staging);
    await swapDir(staging, out);
    return result;
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Renders figures into `folder`, one at a time: vega numbers SVG ids with module-level counters. */
export async function renderFigureSet<K extends string>(figs: FigureSpecOf<K>[], folder: FigureFolder): Promise<{ figures: FigureEntry<K>[]; svgs: Map<string, string> }> {
  const figures: FigureEntry<K>[] = [];
  const svgs = new Map<string, string>();
  for (const fig of figs) {
    const { entry, files } = await renderFigure(fig);
    await folder.write(fig.name, files);
    figures.push(entry);
    svgs.set(fig.name, files.svg);
  }
  return { figures, svgs };
}

/** Paths as a reader can use them: relative to the working directory when below it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

export async function writeDiff(job: DiffJob): Promise<SummaryJson> {
  const out = resolve(job.out);
  return writeFolderWhole(out, 'diff', async (staging) => {
    const classNames = CLASS_NAMES[job.lang];
    const loc = localeOf(job.lang);
    const { figures, svgs } = await renderFigureSet(buildDiffFigures(job.a, job.b, job.comparison, classNames, loc), new FigureFolder(staging, 'diff'));
    const context = buildDiffContext({ ...job, figures });
    const html = await (await createPageRenderer()).render('diff', context, svgs, job.lang);

    const main = figures.filter((f) => MAIN_FIGURES.includes(f.kind));
    // summary.json names files inside the diff folder (it travels whole, e.g. as a CI artifact);
    // summary.md, for people, gives paths they can open from where they ran the command.
    const summary = summaryJson(job.comparison, job.rules, job.failed, Object.fromEntries(main.map((f) => [f.title, `${f.name}.png`])), DIFF_FILES.html);
    const markdown = summaryMarkdown(
      job.comparison,
      job.rules,
      job.failed,
      Object.fromEntries(main.map((f) => [f.title, shown(join(out, `${f.name}.png`))])),
      shown(join(out, DIFF_FILES.html)),
      loc,
    );
    await writeFileSafe(join(staging, DIFF_FILES.html), html);
    await writeJson(join(staging, DIFF_FILES.context), context);
    await writeJson(join(staging, DIFF_FILES.summaryJson), summary);
    await writeFileSafe(join(staging, DIFF_FILES.summaryMd), markdown);
    return summary;
  });
}
