/**
 * summary.md (short enough for a pull-request comment, in the diff's language) and summary.json
 * (for machines: its metric names and fields are the same in every language; the figures' titles
 * that key its `figures` are in the diff's language).
 */
import type { Comparison } from './compare.js';
import type { Rule } from './rules.js';
import { localeOf, type Locale } from '../render/locale.js';

export const KEY_METRICS = ['test.accuracy', 'test.loss', 'val.accuracy', 'val.loss', 'best_epoch', 'epochs_run', 'train.samples_per_s', 'train.seconds'];

export interface SummaryJson {
  a: string;
  b: string;
  metrics: Comparison['metrics'];
  params: Comparison['params'];
  weights: {
    identical: boolean;
    maxAbsDelta: number;
    conv_match: { layer: string; identity: boolean; mean_similarity: number; min_similarity: number; perm: number[] }[];
  };
  rules: string[];
  failed: string[];
  /** figure title -> its PNG, relative to the diff folder */
  figures: Record<string, string>;
  /** the page, relative to the diff folder */
  html: string;
}

export function summaryJson(c: Comparison, rules: Rule[], failed: Rule[], figures: Record<string, string>, html: string): SummaryJson {
  return {
    a: c.a,
    b: c.b,
    metrics: c.metrics,
    params: c.params,
    weights: {
      identical: c.weights.identical,
      maxAbsDelta: c.weights.maxAbsDelta,
      conv_match: c.matches.map((m) => ({ layer: m.layer, identity: m.identity, mean_similarity: m.mean_similarity, min_similarity: m.min_similarity, perm: m.perm })),
    },
    rules: rules.map((r) => r.text),
    failed: failed.map((r) => r.text),
    figures,
    html,
  };
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4));
const signed = (v: number) => (v > 0 ? `+${fmt(v)}` : v === 0 ? '0' : fmt(v));
/** Markdown table cells must not break the table or inject markup. */
export const cell = (s: string) => s.replace(/[|<>`\\\n]/g, (ch) => (ch === '\n' ? ' ' : `\\${ch}`));
/** A code span (outside tables): backslash escapes do not apply inside one, so drop what would end it. */
/** A param's value; absent in one run (an imported run has `model`, a trained one does not) shows as a dash. */
const value = (v: unknown) => (v === undefined ? '–' : JSON.stringify(v));
export const code = (s: string) => `\`${s.replace(/[`\n]/g, ' ')}\``;

export function summaryMarkdown(c: Comparison, rules: Rule[], failed: Rule[], figures: Record<string, string>, html: string, loc: Locale = localeOf('en')): string {
  const lines = [loc.t('diff.summary.title', { a: code(c.a), b: code(c.b) }), ''];
  if (failed.length > 0) lines.push(loc.t('diff.summary.failed', { rules: failed.map((r) => code(r.text)).join(', ') }), '');
  else if (rules.length > 0) lines.push(loc.t('diff.summary.passed', { rules: rules.map((r) => code(r.text)).join(', ') }), '');
  lines.push(loc.t('diff.summary.header'), '| --- | ---: | ---: | ---: |');
  for (const k of KEY_METRICS) {
    const m = c.metrics[k];
    if (!m) continue;
    const mark = m.delta === 0 || m.better === 0 ? '' : Math.sign(m.delta) === m.better ? ' ✅' : ' ⚠️';
    lines.push(`| ${m.timing ? loc.t('diff.summary.timing', { metric: k }) : k} | ${fmt(m.a)} | ${fmt(m.b)} | ${signed(m.delta)}${mark} |`);
  }
  lines.push('');
  const w = c.weights;
  lines.push(
    w.identical
      ? loc.t('diff.summary.identical')
      : loc.t('diff.summary.differ', {
          delta: fmt(w.maxAbsDelta),
          layers: c.matches
            .map((m) =>
              m.identity
                ? loc.t('diff.summary.layer_same', { layer: m.layer, similarity: m.mean_similarity.toFixed(3) })
                : loc.t('diff.summary.layer', { layer: m.layer, similarity: m.mean_similarity.toFixed(3) }),
            )
            .join(', '),
        }),
  );
  if (c.params.length > 0) {
    lines.push('', loc.t('diff.summary.params', { params: c.params.map((p) => `${cell(p.name)} ${cell(value(p.a))} → ${cell(value(p.b))}`).join('; ') }));
  }
  lines.push('', loc.t('diff.summary.report', { path: code(html) }));
  const figs = Object.entries(figures);
  if (figs.length > 0) {
    lines.push('', loc.t('diff.summary.figures'), ...figs.map(([title, path]) => `- ${cell(title)}: ${code(path)}`));
  }
  return `${lines.join('\n')}\n`;
}
