/** summary.json (for machines: what a sweep's gather job reads) and summary.md (for a CI job summary). */
import { cell, code } from '../diff/summary.js';
import type { Analysis, RuleOutcome } from './analyze.js';
import type { Group, Spread } from './groups.js';

export interface CompareSummary {
  reference: string;
  typical: string;
  group_by: string[];
  runs: { id: string; label: string; group: string; seed: number; imported: boolean; closeness: number; metrics: Record<string, number> }[];
  left_out: { label: string; id: string; kind: string; reason: string }[];
  groups: Group[];
  differences: Analysis['differences'];
  per_class: Analysis['perClass'];
  kernels: {
    layer: string;
    filters: number;
    /** matched cosine similarities of every run but the reference; null with one run matched to nothing */
    similarity: Spread | null;
    agreement: number[];
    /** per run but the reference: the matching (perm[i] = its filter matched to the reference's i) and the similarities */
    matches: { run: string; perm: number[]; similarity: number[]; mean_similarity: number }[];
    /** the consensus kernel, relative to the compare folder */
    consensus: string;
  }[];
  rules: RuleOutcome[];
  failed: string[];
  /** figure title -> its PNG, relative to the compare folder */
  figures: Record<string, string>;
  html: string;
}

export function summaryJson(a: Analysis, rules: RuleOutcome[], consensusFiles: Map<string, string>, figures: Record<string, string>, html: string): CompareSummary {
  return {
    reference: a.reference,
    typical: a.typical,
    group_by: a.groupBy,
    runs: a.runs.map((r) => ({ id: r.id, label: r.label, group: r.group, seed: r.seed, imported: r.imported, closeness: r.closeness, metrics: r.metrics })),
    left_out: a.leftOut.map((l) => ({ label: l.label, id: l.id, kind: l.kind, reason: l.reason })),
    groups: a.groups,
    differences: a.differences,
    per_class: a.perClass,
    kernels: a.stability.layers.map((l) => ({
      layer: l.layer,
      filters: l.shape[l.shape.length - 1],
      similarity: l.similarity,
      agreement: l.agreement,
      matches: l.matches.map((m) => ({ run: m.id, perm: m.match.perm, similarity: m.match.similarity, mean_similarity: m.match.mean_similarity })),
      consensus: consensusFiles.get(l.layer)!,
    })),
    rules,
    failed: rules.filter((r) => r.holds).map((r) => r.rule),
    figures,
    html,
  };
}

const fmt = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(digits));

const MD_METRICS = ['test.accuracy', 'test.loss', 'val.accuracy', 'val.loss'];

export function summaryMarkdown(a: Analysis, rules: RuleOutcome[], figures: Record<string, string>, html: string): string {
  const lines = [`### cnn-lens compare: ${a.runs.length} runs${a.groupBy.length > 0 ? ` by ${a.groupBy.map(code).join(', ')}` : ''}`, ''];
  const failed = rules.filter((r) => r.holds);
  if (failed.length > 0) lines.push(`**Failed rules:** ${failed.map((r) => `${code(r.rule)} (${r.groups.filter((g) => g.holds).map((g) => cell(g.group)).join(', ')})`).join('; ')}`, '');
  else if (rules.length > 0) lines.push(`**Rules passed:** ${rules.map((r) => code(r.rule)).join(', ')}`, '');
  lines.push('| group | runs | metric | mean | sd | min | max |', '| --- | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const g of a.groups) {
    for (const m of MD_METRICS) {
      const s = g.metrics[m];
      if (s) lines.push(`| ${cell(g.name)} | ${s.n} | ${m} | ${fmt(s.mean)} | ${fmt(s.sd)} | ${fmt(s.min)} | ${fmt(s.max)} |`);
    }
  }
  lines.push('');
  const acc = a.differences.filter((d) => d.metric === 'test.accuracy');
  if (acc.length > 0) lines.push('**Group differences** (mean difference ± standard error):', ...acc.map((d) => `- ${cell(d.text)}`), '');
  const k = a.stability.layers.filter((l) => l.similarity);
  if (k.length > 0) {
    lines.push(
      `**Kernel stability** (filters matched to ${code(a.reference)}): ` +
        k.map((l) => `${l.layer} mean similarity ${l.similarity!.mean.toFixed(3)} (min ${l.similarity!.min.toFixed(3)})`).join(', ') +
        `. Typical run: ${code(a.typical)}.`,
      '',
    );
  }
  if (a.leftOut.length > 0) lines.push('**Left out:**', ...a.leftOut.map((l) => `- ${code(l.label)}: ${l.kind}: ${cell(l.reason)}`), '');
  lines.push(`**Report:** ${code(html)}`);
  const figs = Object.entries(figures);
  if (figs.length > 0) lines.push('', '**Figures (PNG):**', ...figs.map(([title, path]) => `- ${cell(title)}: ${code(path)}`));
  return `${lines.join('\n')}\n`;
}
