/**
 * Runs grouped by the parameters run.json records (--group-by), each group's statistics, and the
 * differences between groups: mean difference and a plain standard error, no test.
 */
import { UsageError } from '../core/errors.js';
import { DEFAULT_DROPOUT, DEFAULT_LEARNING_RATE, TRAINING_PARAMS } from '../core/params.js';
import { summarize } from '../ml/stats.js';
import { metricsOf } from '../diff/compare.js';
import type { LoadedRun } from '../diff/load-run.js';

export type ParamValue = number | string | boolean;

/** What a run made before an option existed was made with: the option's default. */
const DEFAULTS: Record<string, number> = { dropout: DEFAULT_DROPOUT, learningrate: DEFAULT_LEARNING_RATE };
export const NOT_APPLICABLE = 'n/a';

/** dropout, learning-rate, learning_rate and learningRate are one parameter. */
const normalize = (name: string) => name.replace(/[-_]/g, '').toLowerCase();

/** Training options an imported model (--model) never had. */
const TRAINING_ONLY = new Set<string>([...TRAINING_PARAMS, 'dropout', 'learningRate'].map(normalize));

/** A recorded parameter of a run, read leniently; undefined when the run has none and it has no default. */
export function paramValue(run: LoadedRun, name: string): ParamValue | undefined {
  const key = normalize(name);
  for (const [k, v] of Object.entries(run.manifest.params as Record<string, unknown>)) {
    if (normalize(k) === key && (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) return v;
  }
  if (run.manifest.params.model !== undefined && TRAINING_ONLY.has(key)) return NOT_APPLICABLE;
  return DEFAULTS[key];
}

/** Refuses a --group-by parameter no run records and none has a default for. */
export function checkGroupBy(runs: LoadedRun[], names: string[]): void {
  for (const name of names) {
    if (runs.some((r) => paramValue(r, name) !== undefined)) continue;
    const recorded = [...new Set(runs.flatMap((r) => Object.keys(r.manifest.params)))].filter((k) => k !== 'model' && k !== 'dataDir').sort();
    throw new UsageError(`--group-by ${name}: no run records a parameter ${JSON.stringify(name)}; known: ${[...new Set([...recorded, 'dropout', 'learningRate'])].join(', ')}`);
  }
}

/** n, mean, sample standard deviation (n - 1; null for one value), min and max. */
export interface Spread {
  n: number;
  mean: number;
  sd: number | null;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const s = summarize(values);
  const n = values.length;
  return { n, mean: s.mean, sd: n > 1 ? s.std * Math.sqrt(n / (n - 1)) : null, min: s.min, max: s.max };
}

export const STATS = ['mean', 'sd', 'min', 'max'] as const;
export type Stat = (typeof STATS)[number];

export interface Group {
  /** "dropout=0.3", or "all runs" without --group-by */
  name: string;
  params: Record<string, ParamValue>;
  runs: string[];
  /** per metric the group's runs all have: its spread over them */
  metrics: Record<string, Spread & { timing: boolean }>;
}

export interface RunEntry {
  id: string;
  run: LoadedRun;
}

/** A run's numbers by dotted name, without the per-tensor weight statistics (the kernels section covers weights). */
export function runMetrics(run: LoadedRun): Record<string, { value: number; timing: boolean }> {
  return Object.fromEntries(
    Object.entries(metricsOf(run))
      .filter(([k]) => !k.startsWith('weights.'))
      .map(([k, m]) => [k, { value: m.value, timing: m.timing ?? false }]),
  );
}

const order = (a: ParamValue, b: ParamValue): number => {
  if (a === b) return 0;
  if (a === NOT_APPLICABLE) return 1;
  if (b === NOT_APPLICABLE) return -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b), 'en', { numeric: true });
};

export function groupRuns(runs: RunEntry[], groupBy: string[]): Group[] {
  const byKey = new Map<string, { params: Record<string, ParamValue>; members: RunEntry[] }>();
  for (const entry of runs) {
    const params = Object.fromEntries(groupBy.map((p) => [p, paramValue(entry.run, p) ?? NOT_APPLICABLE]));
    const key = JSON.stringify(groupBy.map((p) => params[p]));
    const g = byKey.get(key) ?? { params, members: [] };
    g.members.push(entry);
    byKey.set(key, g);
  }
  const groups = [...byKey.values()].sort((a, b) => {
    for (const p of groupBy) {
      const c = order(a.params[p], b.params[p]);
      if (c !== 0) return c;
    }
    return 0;
  });
  return groups.map(({ params, members }) => {
    const all = members.map((m) => runMetrics(m.run));
    const names = Object.keys(all[0]).filter((k) => all.every((m) => k in m));
    return {
      name: groupBy.length === 0 ? 'all runs' : groupBy.map((p) => `${p}=${params[p]}`).join(', '),
      params,
      runs: members.map((m) => m.id),
      metrics: Object.fromEntries(names.map((k) => [k, { ...spread(all.map((m) => m[k].value)), timing: all[0][k].timing }])),
    };
  });
}

/** The metrics a group difference is stated for. */
export const DIFFERENCE_METRICS = ['test.accuracy', 'test.loss', 'val.accuracy', 'val.loss'];

export interface Difference {
  /** "dropout 0.3 vs 0.4", with the parameters both groups share after "at" */
  label: string;
  a: string;
  b: string;
  metric: string;
  /** mean of a minus mean of b */
  delta: number;
  /** sqrt(sd_a²/n_a + sd_b²/n_b); null when a group has a single run (no spread to estimate) */
  se: number | null;
  na: number;
  nb: number;
  text: string;
}

const metricWords = (m: string) => m.replace('.', ' ');
const signed = (v: number) => `${v >= 0 ? '+' : '-'}${Math.abs(v).toFixed(4)}`;

/**
 * One statement per pair of groups and metric. With several --group-by parameters, only pairs
 * that differ in one parameter are compared: a pair that differs in two confounds them.
 */
export function groupDifferences(groups: Group[], groupBy: string[]): Difference[] {
  const out: Difference[] = [];
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) {
      const [a, b] = [groups[i], groups[j]];
      const differing = groupBy.filter((p) => a.params[p] !== b.params[p]);
      if (differing.length !== 1) continue;
      const [p] = differing;
      const shared = groupBy.filter((q) => q !== p).map((q) => `${q}=${a.params[q]}`);
      const label = `${p} ${a.params[p]} vs ${b.params[p]}${shared.length > 0 ? ` at ${shared.join(', ')}` : ''}`;
      for (const metric of DIFFERENCE_METRICS) {
        const ma = a.metrics[metric];
        const mb = b.metrics[metric];
        if (!ma || !mb) continue;
        const delta = ma.mean - mb.mean;
        const se = ma.sd === null || mb.sd === null ? null : Math.sqrt(ma.sd ** 2 / ma.n + mb.sd ** 2 / mb.n);
        const runs = ma.n === mb.n ? `over ${ma.n} runs each` : `over ${ma.n} and ${mb.n} runs`;
        const text =
          se === null
            ? `${label}: ${metricWords(metric)} ${signed(delta)} ${runs} (no standard error: a group of one run has no spread)`
            : `${label}: ${metricWords(metric)} ${signed(delta)} ± ${se.toFixed(4)} ${runs}`;
        out.push({ label, a: a.name, b: b.name, metric, delta, se, na: ma.n, nb: mb.n, text });
      }
    }
  }
  return out;
}

/** The names a --fail-on rule may test: `<metric>.<stat>` for every metric some group has. */
export function ruleMetrics(groups: Group[]): string[] {
  const names = [...new Set(groups.flatMap((g) => Object.keys(g.metrics)))];
  return names.flatMap((n) => STATS.map((s) => `${n}.${s}`));
}

/** A rule's metric name split into the metric and the statistic. */
export function splitRuleMetric(name: string): { metric: string; stat: Stat } {
  const dot = name.lastIndexOf('.');
  return { metric: name.slice(0, dot), stat: name.slice(dot + 1) as Stat };
}
