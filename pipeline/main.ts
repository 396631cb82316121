/** `npm run pipeline -- [options]`: see --help. */
import { HELP, parseCli } from './cli.js';
import { exitCodeOf, messageOf, UsageError } from './errors.js';
import { consoleLogger } from './log.js';
import { runPipeline } from './runner.js';
import { RunStore } from './store.js';
import { STEPS } from '../steps/index.js';

async function main(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  if (cli.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = consoleLogger();
  const store = new RunStore(cli.artifacts, cli.runId);
  const summary = await runPipeline({ steps: STEPS, selected: cli.steps, params: cli.params, store, force: cli.force, log });
  log.info(`run ${cli.runId}: ${summary.ran.length} step(s) ran, ${summary.skipped.length} up to date`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${messageOf(err)}\n`);
    if (err instanceof UsageError) process.stderr.write('Run `npm run pipeline -- --help` for the steps and options.\n');
    if (process.env.CNN_LENS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(exitCodeOf(err));
  },
);
