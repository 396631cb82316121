/** `npm run diff -- <runA> <runB> [options]`: the command line, parsed strictly. */
import { parseUsage } from '../core/args.js';
import { UsageError } from '../core/errors.js';
import { LANGS, type Lang } from '../core/params.js';

export interface DiffOptions {
  help: boolean;
  a: string;
  b: string;
  /** undefined: <artifacts>/diffs/<a>__<b> */
  out?: string;
  failOn: string[];
  artifacts: string;
  lang: Lang;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  out: { type: 'string' },
  'fail-on': { type: 'string', multiple: true },
  artifacts: { type: 'string' },
  lang: { type: 'string' },
} as const;

export const DIFF_HELP = `Usage: npm run diff -- <runA> <runB> [options]

Compares two finished runs from their folders alone (no retraining): parameters, metrics, learning
curves, weights, kernels (B's filters matched to A's), feature maps, per-class accuracy and the
confusion matrix. A run is a run id under <artifacts>/runs or a path to a run folder. Deltas are
B minus A.

Writes into --out: diff.html (self-contained), summary.md (for a pull-request comment),
summary.json (for machines), diff.json (the page's data) and each figure as <name>.vl.json,
<name>.svg and <name>.png.

Options:
  --out <dir>             where to write (default <artifacts>/diffs/<A>__<B>); replaced whole,
                          so it must be new, empty or an earlier diff's folder
  --fail-on "<rule>"      fail (exit 1, after writing everything) when the rule holds for a
                          delta, e.g. "test.accuracy < -0.01" or "val.loss > 0.02"; repeatable.
                          ops: < <= > >= == !=; an unknown metric name lists the known ones
  --artifacts <dir>       where run ids are looked up (default ./artifacts)
  --lang en|ko            the page's, figures' and summary.md's language (default en; ko: Korean)
  -h, --help              this help

Exit codes: 0 written, no rule failed; 1 a --fail-on rule holds (or the diff failed);
2 bad usage, an unknown metric in a rule, or a missing or incomplete run.`;

export function parseDiffCli(argv: string[]): DiffOptions {
  const { values, positionals } = parseUsage(argv, OPTIONS);
  const help = Boolean(values.help);
  if (!help && positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2
        ? `give two runs to compare (run ids or run folders), got ${positionals.length}: npm run diff -- <runA> <runB>`
        : `give exactly two runs to compare, got ${positionals.length}: ${positionals.map((p) => JSON.stringify(p)).join(' ')}`,
    );
  }
  const lang = values.lang ?? 'en';
  if (!(LANGS as readonly string[]).includes(lang)) throw new UsageError(`--lang ${JSON.stringify(lang)} is not valid: use one of ${LANGS.join(', ')}`);
  for (const [name, v] of [['out', values.out], ['artifacts', values.artifacts]] as const) {
    if (v !== undefined && v.trim() === '') throw new UsageError(`--${name} needs a folder`);
  }
  return {
    help,
    a: positionals[0] ?? '',
    b: positionals[1] ?? '',
    out: values.out,
    failOn: values['fail-on'] ?? [],
    artifacts: values.artifacts ?? 'artifacts',
    lang: lang as Lang,
  };
}

/** The default output folder's name: both run ids, in a safe character set. */
export function defaultDiffName(a: string, b: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return `${safe(a)}__${safe(b)}`;
}
