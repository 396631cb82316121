/**
 * Writes a compare's folder: figures, compare.html, compare.json, summary.md, summary.json and the
 * consensus kernels as .npy, built in a staging folder and swapped in whole, as the diff's is.
 */
import { join, resolve } from 'node:path';
import { FigureFolder } from '../catalog/artifacts.js';
import { writeNpy } from '../catalog/npy.js';
import { CLASS_NAMES } from '../catalog/schema.js';
import { writeFileSafe, writeJson } from '../core/files.js';
import type { Lang } from '../core/params.js';
import { createPageRenderer } from '../render/report-html.js';
import { renderFigureSet, shown, writeFolderWhole } from '../diff/write.js';
import type { Analysis, RuleOutcome } from './analyze.js';
import { buildCompareFigures, figureSlug, type CompareFigureKind } from './figures.js';
import type { Gathered } from './gather.js';
import { buildCompareContext } from './page.js';
import { summaryJson, summaryMarkdown, type CompareSummary } from './summary.js';

export const COMPARE_FILES = { html: 'compare.html', context: 'compare.json', summaryMd: 'summary.md', summaryJson: 'summary.json' } as const;

/** Figures whose PNGs summary.md names (the rest are in the folder and the page). */
const MAIN_FIGURES: CompareFigureKind[] = ['metrics', 'kernel-similarity'];

export interface CompareJob {
  out: string;
  gathered: Gathered;
  analysis: Analysis;
  rules: RuleOutcome[];
  lang: Lang;
}

export async function writeCompare(job: CompareJob): Promise<CompareSummary> {
  const out = resolve(job.out);
  return writeFolderWhole(out, 'compare', async (staging) => {
    const { figures, svgs } = await renderFigureSet(buildCompareFigures(job.gathered, job.analysis, CLASS_NAMES[job.lang]), new FigureFolder(staging, 'compare'));
    const consensus = new Map<string, string>();
    for (const l of job.analysis.stability.layers) {
      const file = `consensus/${figureSlug(l.layer)}/kernel.npy`;
      await writeNpy(join(staging, file), l.consensus.data, l.consensus.shape);
      consensus.set(l.layer, file);
    }
    const context = buildCompareContext({ lang: job.lang, analysis: job.analysis, rules: job.rules, figures });
    const html = await (await createPageRenderer()).render('compare', context, svgs, job.lang);

    const main = figures.filter((f) => MAIN_FIGURES.includes(f.kind));
    // summary.json names files inside the folder (it travels whole, e.g. as a CI artifact);
    // summary.md, for people, gives paths they can open from where they ran the command.
    const summary = summaryJson(job.analysis, job.rules, consensus, Object.fromEntries(main.map((f) => [f.title, `${f.name}.png`])), COMPARE_FILES.html);
    const markdown = summaryMarkdown(
      job.analysis,
      job.rules,
      Object.fromEntries(main.map((f) => [f.title, shown(join(out, `${f.name}.png`))])),
      shown(join(out, COMPARE_FILES.html)),
    );
    await writeFileSafe(join(staging, COMPARE_FILES.html), html);
    await writeJson(join(staging, COMPARE_FILES.context), context);
    await writeJson(join(staging, COMPARE_FILES.summaryJson), summary);
    await writeFileSafe(join(staging, COMPARE_FILES.summaryMd), markdown);
    return summary;
  });
}
