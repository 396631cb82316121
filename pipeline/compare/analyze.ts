/** Everything compare says about N runs, as data: the page, summary.md and summary.json render it. */
import type { Rule } from '../diff/rules.js';
import { ruleHolds } from '../diff/rules.js';
import { convLayersInOrder } from './architecture.js';
import type { Gathered, LeftOut } from './gather.js';
import { groupDifferences, groupRuns, paramValue, runMetrics, spread, splitRuleMetric, type Difference, type Group, type ParamValue, type Spread } from './groups.js';
import { kernelStability, type Stability } from './stability.js';

export interface RunRow {
  id: string;
  label: string;
  dir: string;
  group: string;
  reference: boolean;
  typical: boolean;
  /** made from a model file (--model), not trained here: no learning curves, no validation metrics */
  imported: boolean;
  seed: number;
  /** the --group-by parameters' values */
  params: Record<string, ParamValue>;
  metrics: Record<string, number>;
  /** mean cosine similarity of its matched filters to the consensus */
  closeness: number;
  epochs: number | null;
}

export interface Analysis {
  reference: string;
  typical: string;
  groupBy: string[];
  runs: RunRow[];
  leftOut: LeftOut[];
  groups: Group[];
  differences: Difference[];
  perClass: ({ class_index: number; class_name: string } & Spread)[];
  stability: Stability;
}

export function analyzeRuns(g: Gathered, groupBy: string[], classNames: readonly string[]): Analysis {
  const entries = g.usable.map((u) => ({ id: u.id, run: u.run }));
  const groups = groupRuns(entries, groupBy);
  const groupOf = new Map(groups.flatMap((gr) => gr.runs.map((id) => [id, gr.name] as const)));
  const stability = kernelStability(g.usable, convLayersInOrder(g.reference.arch));
  const closeness = new Map(stability.closeness.map((c) => [c.id, c.value]));
  const runs = g.usable.map(({ id, run }): RunRow => ({
    id,
    label: run.label,
    dir: run.store.runDir,
    group: groupOf.get(id)!,
    reference: id === g.reference.id,
    typical: id === stability.typical,
    imported: run.manifest.params.model !== undefined,
    seed: run.manifest.seed,
    params: Object.fromEntries(groupBy.map((p) => [p, paramValue(run, p) ?? 'n/a'])),
    metrics: Object.fromEntries(Object.entries(runMetrics(run)).map(([k, m]) => [k, m.value])),
    closeness: closeness.get(id)!,
    epochs: run.history?.rows.length ?? null,
  }));
  const perClass = classNames.map((class_name, i) => ({ class_index: i, class_name, ...spread(g.usable.map((u) => u.run.metrics.per_class_accuracy[i])) }));
  return {
    reference: g.reference.id,
    typical: stability.typical,
    groupBy,
    runs,
    leftOut: g.leftOut,
    groups,
    differences: groupDifferences(groups, groupBy),
    perClass,
    stability,
  };
}

export interface RuleOutcome {
  rule: string;
  /** per group that has the statistic: its value and whether the rule holds */
  groups: { group: string; value: number; holds: boolean }[];
  /** groups without it (a metric their runs lack, or the sd of a single run) */
  skipped: string[];
  holds: boolean;
}

/** A rule holds when it holds for any group. */
export function evaluateRules(rules: Rule[], groups: Group[]): RuleOutcome[] {
  return rules.map((rule) => {
    const { metric, stat } = splitRuleMetric(rule.metric);
    const checked: RuleOutcome['groups'] = [];
    const skipped: string[] = [];
    for (const gr of groups) {
      const value = gr.metrics[metric]?.[stat];
      if (value === undefined || value === null) skipped.push(gr.name);
      else checked.push({ group: gr.name, value, holds: ruleHolds(rule, value) });
    }
    return { rule: rule.text, groups: checked, skipped, holds: checked.some((c) => c.holds) };
  });
}
