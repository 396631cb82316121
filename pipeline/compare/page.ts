/**
 * The compare page's Handlebars context (saved as compare.json): data only, no markup. The page
 * itself is templates/compare.hbs, its words in the `compare` namespace of the message catalogs.
 */
import type { FigureEntry } from '../catalog/schema.js';
import type { Lang } from '../core/params.js';
import type { Analysis, RuleOutcome } from './analyze.js';
import type { CompareFigureKind } from './figures.js';
import { spread, STATS } from './groups.js';

/** The metrics the page's group table shows (timings and the rest are in summary.json). */
const PAGE_METRICS = ['test.accuracy', 'test.loss', 'val.accuracy', 'val.loss', 'best_epoch', 'epochs_run'];

/** A filter counts as stable when the runs' matched filters agree with the consensus at least this well. */
export const STABLE_AGREEMENT = 0.9;

export interface PageInputs {
  lang: Lang;
  analysis: Analysis;
  rules: RuleOutcome[];
  figures: FigureEntry<CompareFigureKind>[];
}

export function buildCompareContext({ lang, analysis: a, rules, figures }: PageInputs) {
  const figure = (kind: CompareFigureKind, layer?: string) => figures.find((f) => f.kind === kind && (layer === undefined || f.layer === layer))?.name ?? null;
  const testAcc = a.runs.map((r) => r.metrics['test.accuracy']);
  const typical = a.runs.find((r) => r.typical)!;
  const typicalSample = a.stability.typicalMaps.length > 0 ? figures.find((f) => f.kind === 'feature-maps')?.sample ?? null : null;
  return {
    lang,
    n_runs: a.runs.length,
    reference: a.reference,
    typical: a.typical,
    typical_closeness: typical.closeness.toFixed(4),
    group_by: a.groupBy,
    headline: {
      test_accuracy: spread(testAcc),
      groups: a.groups.length,
      left_out: a.leftOut.length,
      similarity: a.stability.layers.flatMap((l) => (l.similarity ? [{ layer: l.layer, mean: l.similarity.mean }] : [])).slice(0, 1)[0] ?? null,
      rules: rules.map((r) => ({ text: r.rule, holds: r.holds, groups: r.groups.filter((g) => g.holds).map((g) => g.group).join(', ') })),
      failed: rules.filter((r) => r.holds).length,
    },
    runs: a.runs.map((r) => ({
      id: r.id,
      label: r.label,
      dir: r.dir,
      group: r.group,
      seed: r.seed,
      reference: r.reference,
      typical: r.typical,
      imported: r.imported,
      test_accuracy: r.metrics['test.accuracy'],
      test_loss: r.metrics['test.loss'],
      val_accuracy: r.metrics['val.accuracy'] ?? null,
      epochs: r.epochs,
      closeness: r.closeness,
    })),
    left_out: a.leftOut.map((l) => ({ label: l.label, id: l.id, dir: l.dir, kind: l.kind, reason: l.reason })),
    groups: a.groups.map((g) => ({
      name: g.name,
      n: g.runs.length,
      runs: g.runs.join(', '),
      metrics: PAGE_METRICS.filter((m) => g.metrics[m]).map((m) => ({ name: m, digits: m.includes('epoch') ? 1 : 4, ...g.metrics[m] })),
    })),
    stats: STATS,
    metrics_figure: figure('metrics'),
    differences: a.differences.map((d) => ({ ...d, has_se: d.se !== null, metric_words: d.metric.replace('.', ' ') })),
    per_class: a.perClass,
    per_class_figure: figure('per-class'),
    training: figures.filter((f) => f.kind === 'learning-curves').map((f) => f.name),
    kernels: a.stability.layers.map((l) => ({
      layer: l.layer,
      filters: l.shape[l.shape.length - 1],
      similarity: l.similarity,
      agreement: spread(l.agreement),
      stable: l.agreement.filter((v) => v >= STABLE_AGREEMENT).length,
      figure: figure('consensus-kernels', l.layer),
    })),
    stable_agreement: STABLE_AGREEMENT,
    similarity_figure: figure('kernel-similarity'),
    maps: {
      sample: typicalSample,
      figures: a.stability.typicalMaps.map((m) => ({ layer: m.layer, figure: figure('feature-maps', m.layer) })),
    },
    figures: { count: figures.length, svg_bytes: figures.reduce((n, f) => n + f.bytes.svg, 0) },
  };
}

export type CompareContext = ReturnType<typeof buildCompareContext>;
