/**
 * `npm run compare`: gathers N finished runs into one page and two summaries. Also called in
 * process by `npm run sweep` once its runs are done, so it returns its exit code and never exits.
 */
import { join } from 'node:path';
import { consoleLogger } from '../core/log.js';
import { CLASS_NAMES } from '../catalog/schema.js';
import { parseRule } from '../diff/rules.js';
import { hasKoreanFont } from '../render/figures/write-figure.js';
import { analyzeRuns, evaluateRules } from './analyze.js';
import { COMPARE_HELP, defaultCompareName, parseCompareCli } from './cli.js';
import { gatherRuns } from './gather.js';
import { checkGroupBy, ruleMetrics } from './groups.js';
import { writeCompare } from './write.js';

const fixed = (v: number | null | undefined, digits = 4) => (typeof v === 'number' ? v.toFixed(digits) : '–');

/** Returns the exit code: 0 written, 1 a --fail-on rule holds; throws UsageError/BadInputError (exit 2) before writing anything. */
export async function compareMain(argv: string[]): Promise<number> {
  const cli = parseCompareCli(argv);
  if (cli.help) {
    process.stdout.write(`${COMPARE_HELP}\n`);
    return 0;
  }
  const log = consoleLogger();
  const started = performance.now();
  const gathered = await gatherRuns(cli.runs, cli.globs, cli.artifacts, cli.reference);
  for (const l of gathered.leftOut) log.warn(`left out ${l.label} (${l.kind}): ${l.reason}`);
  const runs = gathered.usable.map((u) => u.run);
  checkGroupBy(runs, cli.groupBy);
  const analysis = analyzeRuns(gathered, cli.groupBy, CLASS_NAMES[cli.lang]);
  // Rules name group statistics, which only the runs know: checked before anything is written.
  const rules = cli.failOn.map((text) => parseRule(text, ruleMetrics(analysis.groups)));
  const outcomes = evaluateRules(rules, analysis.groups);
  if (cli.lang === 'ko' && hasKoreanFont() === false) {
    log.warn('no font with Korean glyphs is installed: the PNG figures will show boxes for the Korean class names. Install one, e.g. apt-get install fonts-nanum');
  }

  const out = cli.out ?? join(cli.artifacts, 'compares', cli.name ?? defaultCompareName(gathered.ids));
  await writeCompare({ out, gathered, analysis, rules: outcomes, lang: cli.lang });

  const acc = analysis.groups.map((g) => {
    const s = g.metrics['test.accuracy'];
    return `${g.name} ${fixed(s?.mean)} ± ${fixed(s?.sd)} (n=${g.runs.length})`;
  });
  const kernels = analysis.stability.layers.filter((l) => l.similarity).map((l) => `${l.layer} similarity ${fixed(l.similarity!.mean, 3)}`);
  log.info(
    `compare ${analysis.runs.length} runs${gathered.leftOut.length > 0 ? ` (${gathered.leftOut.length} left out)` : ''}: test accuracy ${acc.join('; ')}` +
      `${kernels.length > 0 ? `; ${kernels.join(', ')}` : ''}; typical run ${analysis.typical}`,
  );
  log.info(`compare: wrote ${out} (compare.html, summary.md, summary.json) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const failed = outcomes.filter((o) => o.holds);
  if (failed.length > 0) {
    const lines = failed.map((o) => `  ${o.rule}  (${o.groups.filter((g) => g.holds).map((g) => `${g.group}: ${g.value}`).join('; ')})`);
    process.stderr.write(`compare failed: ${failed.length} of ${rules.length} --fail-on rule(s) hold:\n${lines.join('\n')}\n`);
    return 1;
  }
  return 0;
}
