/** `npm run diff -- <runA> <runB> [options]`: see --help (pipeline/diff/cli.ts). */
import { join } from 'node:path';
import { defaultDiffName, DIFF_HELP, parseDiffCli } from './diff/cli.js';
import { commonMetrics, compareRuns } from './diff/compare.js';
import { loadRun } from './diff/load-run.js';
import { parseRule, ruleHolds } from './diff/rules.js';
import { writeDiff } from './diff/write.js';
import { hasKoreanFont } from './render/figures/write-figure.js';
import { consoleLogger } from './core/log.js';
import { runMain } from './core/run-main.js';
import { CLASS_NAMES } from './catalog/schema.js';

async function main(argv: string[]): Promise<number> {
  const cli = parseDiffCli(argv);
  if (cli.help) {
    process.stdout.write(`${DIFF_HELP}\n`);
    return 0;
  }
  const log = consoleLogger();
  const started = performance.now();
  const a = await loadRun(cli.a, cli.artifacts);
  const b = await loadRun(cli.b, cli.artifacts);
  // Rules name metrics, which only the runs know: checked before anything is written.
  const metrics = commonMetrics(a, b);
  const rules = cli.failOn.map((text) => parseRule(text, metrics));
  if (cli.lang === 'ko' && hasKoreanFont() === false) {
    log.warn('no font with Korean glyphs is installed: the PNG figures will show boxes for the Korean class names. Install one, e.g. apt-get install fonts-nanum');
  }

  const comparison = compareRuns(a, b, CLASS_NAMES[cli.lang]);
  const failed = rules.filter((r) => ruleHolds(r, comparison.metrics[r.metric].delta));
  const out = cli.out ?? join(cli.artifacts, 'diffs', defaultDiffName(a.store.runId, b.store.runId));
  await writeDiff({ out, a, b, comparison, rules, failed, lang: cli.lang });

  const acc = comparison.metrics['test.accuracy'];
  log.info(
    `diff ${cli.a} -> ${cli.b}: test accuracy ${acc.a.toFixed(4)} -> ${acc.b.toFixed(4)} (${acc.delta >= 0 ? '+' : ''}${acc.delta.toFixed(4)}); ` +
      `weights ${comparison.weights.identical ? 'bit-identical' : `differ (max |delta| ${comparison.weights.maxAbsDelta.toFixed(4)})`}; ` +
      comparison.matches.map((m) => `${m.layer} filters matched ${m.identity ? 'as identity' : 'permuted'}, mean similarity ${m.mean_similarity.toFixed(3)}`).join('; '),
  );
  log.info(`diff: wrote ${out} (diff.html, summary.md, summary.json) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (failed.length > 0) {
    const lines = failed.map((r) => `  ${r.text}  (delta ${comparison.metrics[r.metric].delta})`);
    process.stderr.write(`diff failed: ${failed.length} of ${rules.length} --fail-on rule(s) hold:\n${lines.join('\n')}\n`);
    return 1;
  }
  return 0;
}

runMain(main, 'Run `npm run diff -- --help` for the options.');
