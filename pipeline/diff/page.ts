/**
 * The diff report's Handlebars context (saved as diff.json): data only, no markup and no words
 * (templates/messages/ has those). The page itself is templates/diff.hbs, rendered with the
 * report's helpers and partials.
 */
import type { Lang } from '../core/params.js';
import type { FigureEntry } from '../catalog/schema.js';
import type { Comparison, MetricDelta } from './compare.js';
import type { DiffFigureKind } from './figures.js';
import type { LoadedRun } from './load-run.js';
import type { Rule } from './rules.js';

/** 'better' / 'worse' by the metric's direction; '' when neither applies or nothing changed. */
export function effect(m: Pick<MetricDelta, 'delta' | 'better'>): '' | 'better' | 'worse' {
  if (m.better === 0 || m.delta === 0 || !Number.isFinite(m.delta)) return '';
  return Math.sign(m.delta) === m.better ? 'better' : 'worse';
}

/** Digits a metric is printed with: counts as integers, accuracies and losses to 4 places. */
function digits(m: MetricDelta): number {
  if (Number.isInteger(m.a) && Number.isInteger(m.b)) return 0;
  return m.timing ? 2 : 4;
}

const text = (v: unknown): string => (v === undefined ? '–' : typeof v === 'string' ? v : JSON.stringify(v));

function runInfo(r: LoadedRun) {
  const m = r.manifest;
  return {
    label: r.label,
    id: r.store.runId,
    dir: r.store.runDir,
    created: m.created,
    profile: m.profile,
    seed: m.seed,
    backend: m.backend,
    git_commit: m.git_commit,
    sample: { split: r.sample.split, index: r.sample.index, id: r.sample.id },
  };
}

export interface PageInputs {
  lang: Lang;
  a: LoadedRun;
  b: LoadedRun;
  comparison: Comparison;
  rules: Rule[];
  failed: Rule[];
  figures: FigureEntry<DiffFigureKind>[];
}

export function buildDiffContext({ lang, a, b, comparison: c, rules, failed, figures }: PageInputs) {
  const figure = (kind: DiffFigureKind, layer?: string) => figures.find((f) => f.kind === kind && (layer === undefined || f.layer === layer))?.name ?? null;
  const row = (name: string, m: MetricDelta) => ({ name, a: m.a, b: m.b, delta: m.delta, digits: digits(m), effect: effect(m), timing: m.timing });

  const pa = a.manifest.params as unknown as Record<string, unknown>;
  const pb = b.manifest.params as unknown as Record<string, unknown>;
  const changed = new Set(c.params.map((p) => p.name));
  const params = [...new Set([...Object.keys(pa), ...Object.keys(pb)])]
    .sort()
    .map((name) => ({ name, a: text(pa[name]), b: text(pb[name]), changed: changed.has(name) }));
  // What the run took and what made it, beside what it was asked for. `kind` picks the row's
  // words on the page; a package's row is named by the package.
  const info = (kind: 'backend' | 'git_commit' | 'package', name: string, va: unknown, vb: unknown) => ({
    kind,
    name,
    a: text(va),
    b: text(vb),
    changed: JSON.stringify(va) !== JSON.stringify(vb),
  });
  const setup = [
    info('backend', 'backend', a.manifest.backend, b.manifest.backend),
    info('git_commit', 'git_commit', a.manifest.git_commit, b.manifest.git_commit),
    ...[...new Set([...Object.keys(a.manifest.versions ?? {}), ...Object.keys(b.manifest.versions ?? {})])]
      .sort()
      .map((name) => info('package', name, a.manifest.versions?.[name], b.manifest.versions?.[name])),
  ];

  const entries = Object.entries(c.metrics);
  const quality = entries.filter(([k, m]) => !m.timing && !k.startsWith('weights.')).map(([k, m]) => row(k, m));
  const timings = entries.filter(([, m]) => m.timing).map(([k, m]) => row(k, m));
  const testAcc = c.metrics['test.accuracy'];

  return {
    lang,
    a: runInfo(a),
    b: runInfo(b),
    headline: {
      test_accuracy: testAcc ? row('test.accuracy', testAcc) : null,
      weights_identical: c.weights.identical,
      max_abs_delta: c.weights.maxAbsDelta,
      rules: rules.map((r) => ({ text: r.text, failed: failed.includes(r) })),
      failed: failed.length,
      changed_params: c.params.length,
    },
    params,
    setup,
    metrics: { quality, timings },
    // null epochs: a model imported with --model, not trained here
    training: { figure: figure('learning-curves'), epochs: [a.history?.rows.length ?? null, b.history?.rows.length ?? null] },
    weights: {
      identical: c.weights.identical,
      max_abs_delta: c.weights.maxAbsDelta,
      tensors: c.weights.tensors.map((t) => ({
        name: t.name,
        shape: t.shape,
        identical: t.identical,
        max_abs_delta: t.max_abs_delta,
        mean: row(`${t.name} mean`, t.mean),
        std: row(`${t.name} std`, t.std),
      })),
      histograms: figure('weight-histograms'),
    },
    kernels: c.matches.map((m) => ({
      layer: m.layer,
      filters: m.perm.length,
      identity: m.identity,
      carried: m.in_perm !== null,
      mean_similarity: m.mean_similarity,
      min_similarity: m.min_similarity,
      moved: m.perm.filter((j, i) => i !== j).length,
      figure: figure('kernel-pairs', m.layer),
      maps: figure('feature-maps', m.layer),
    })),
    same_sample: a.sample.id === b.sample.id,
    evaluation: {
      per_class: c.per_class.map((p) => ({ ...p, effect: effect({ delta: p.delta, better: 1 }) })),
      per_class_figure: figure('per-class-delta'),
      confusion_figure: figure('confusion-delta'),
      // A lower bound on the test images whose predicted class changed (moves within a row can cancel).
      moved_images: c.confusion_delta.flat().reduce((n, d) => n + Math.abs(d), 0) / 2,
    },
    figures: { count: figures.length, svg_bytes: figures.reduce((n, f) => n + f.bytes.svg, 0) },
  };
}

export type DiffContext = ReturnType<typeof buildDiffContext>;
