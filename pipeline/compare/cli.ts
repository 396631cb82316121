/** `npm run compare -- <run>... | --runs <glob> [options]`: the command line, parsed strictly. */
import { parseUsage } from '../core/args.js';
import { UsageError } from '../core/errors.js';
import { LANGS, type Lang } from '../core/params.js';

export interface CompareOptions {
  help: boolean;
  /** run ids or run folders, as given */
  runs: string[];
  /** --runs patterns */
  globs: string[];
  /** undefined: <artifacts>/compares/<name> */
  out?: string;
  /** undefined: derived from the runs */
  name?: string;
  /** undefined: the first usable run */
  reference?: string;
  groupBy: string[];
  failOn: string[];
  artifacts: string;
  lang: Lang;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  runs: { type: 'string', multiple: true },
  out: { type: 'string' },
  name: { type: 'string' },
  reference: { type: 'string' },
  'group-by': { type: 'string', multiple: true },
  'fail-on': { type: 'string', multiple: true },
  artifacts: { type: 'string' },
  lang: { type: 'string' },
} as const;

/** Folder names a compare may take: what run ids may be. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const COMPARE_HELP = `Usage: npm run compare -- <run>... | --runs <glob> [options]

Gathers two or more finished runs (trained, or imported with --model) into one page: accuracy and
loss per run and per group (mean, standard deviation, min, max), per-class accuracy spread,
learning curves per group, kernel stability (every run's conv filters matched to the reference
run's, their cosine similarities and the consensus kernels), the chapter sample's feature maps of
the most typical run, and one statement per group difference with its standard error.

A run is a run id under <artifacts>/runs or a path to a run folder. Runs whose layers differ in
class or weight shape from the reference's (position by position; names may differ), and runs a
step compare reads is not done in, are listed with the reason and left out.

Writes into --out: compare.html (self-contained), summary.md, summary.json, compare.json (the
page's data), consensus/<layer>/kernel.npy, and each figure as <name>.vl.json, .svg and .png.

Options:
  --runs <glob>           runs matching a pattern (* and ? within a path segment), e.g.
                          'artifacts/runs/sweep-*'; without a /, run ids under <artifacts>/runs;
                          repeatable, and may be mixed with runs named one by one
  --out <dir>             where to write (default <artifacts>/compares/<name>); replaced whole,
                          so it must be new, empty or an earlier compare's folder
  --name <name>           the folder's name under <artifacts>/compares (default: the first and
                          last run id and the count, e.g. seed1__seed8__8-runs)
  --reference <run>       the run the others' filters are matched to (default: the first usable)
  --group-by <param>      group runs by a parameter run.json records (dropout, learning-rate,
                          seed, epochs, ...); repeatable; default: one group of every run
  --fail-on "<rule>"      fail (exit 1, after writing everything) when the rule holds for any
                          group, e.g. "test.accuracy.mean < 0.85" or "test.accuracy.sd > 0.01";
                          statistics: mean sd min max; ops: < <= > >= == !=; repeatable
  --artifacts <dir>       where run ids are looked up (default ./artifacts)
  --lang en|ko            the page's words and class names in English (default) or Korean
  -h, --help              this help

Exit codes: 0 written, no rule failed; 1 a --fail-on rule holds (or the compare failed);
2 bad usage, an unknown metric in a rule, a run that does not exist, or fewer than two usable runs.`;

export function parseCompareCli(argv: string[]): CompareOptions {
  const { values, positionals } = parseUsage(argv, OPTIONS);
  const help = Boolean(values.help);
  const globs = values.runs ?? [];
  if (!help && positionals.length + globs.length === 0) {
    throw new UsageError('give the runs to compare: run ids or run folders, or --runs <glob>, e.g. npm run compare -- --runs "artifacts/runs/sweep-*"');
  }
  const lang = values.lang ?? 'en';
  if (!(LANGS as readonly string[]).includes(lang)) throw new UsageError(`--lang ${JSON.stringify(lang)} is not valid: use one of ${LANGS.join(', ')}`);
  for (const [name, v] of [['out', values.out], ['artifacts', values.artifacts], ['reference', values.reference]] as const) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`--${name} needs a value`);
  }
  for (const g of globs) if (g.trim() === '') throw new UsageError('--runs needs a pattern, e.g. --runs "artifacts/runs/sweep-*"');
  if (values.name !== undefined && (!NAME.test(values.name) || values.name.includes('..'))) {
    throw new UsageError(`--name ${JSON.stringify(values.name)} is not a plain folder name: use 1-100 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit`);
  }
  if (values.name !== undefined && values.out !== undefined) throw new UsageError('give --name or --out, not both: --out is the whole path, --name a folder under <artifacts>/compares');
  const groupBy = values['group-by'] ?? [];
  for (const g of groupBy) if (!/^[A-Za-z][\w-]*$/.test(g)) throw new UsageError(`--group-by ${JSON.stringify(g)} is not a parameter name (e.g. dropout, learning-rate, seed)`);
  return {
    help,
    runs: positionals,
    globs,
    out: values.out,
    name: values.name,
    reference: values.reference,
    groupBy,
    failOn: values['fail-on'] ?? [],
    artifacts: values.artifacts ?? 'artifacts',
    lang: lang as Lang,
  };
}

/** The default folder name: the first and last run id and the count, short and in a safe character set. */
export function defaultCompareName(ids: readonly string[]): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 40) || 'run';
  const first = safe(ids[0] ?? 'none');
  const last = safe(ids[ids.length - 1] ?? 'none');
  return `${first}__${last}__${ids.length}-runs`;
}
