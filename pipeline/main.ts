/** `npm run pipeline -- [options]`: see --help. */
import { HELP, parseCli } from './cli.js';
import { packageVersions } from './core/manifest.js';
import { consoleLogger } from './core/log.js';
import { runMain } from './core/run-main.js';
import { runPipeline } from './core/runner.js';
import { checkWritable } from './core/files.js';
import { RunStore } from './catalog/store.js';
import { BACKEND_CODE, BACKEND_PACKAGES, initTf, resolveBackend } from './tfjs/backend.js';
import { STEPS } from '../steps/index.js';

async function main(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  if (cli.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (cli.version) {
    process.stdout.write(`${versionText()}\n`);
    return 0;
  }
  const log = consoleLogger();
  const store = new RunStore(cli.artifacts, cli.runId);
  // Both refuse bad input before anything is written (an unavailable backend, an unwritable folder).
  const backend = resolveBackend(cli.params.backend);
  await checkWritable(store.runDir);
  const summary = await runPipeline({
    steps: STEPS,
    selected: cli.steps,
    params: cli.params,
    store,
    force: cli.force,
    log,
    backend,
    backendCode: [BACKEND_CODE],
    backendPackages: BACKEND_PACKAGES,
    startBackend: async () => void (await initTf(cli.params.backend)),
  });
  log.info(`run ${cli.runId}: ${summary.ran.length} step(s) ran, ${summary.skipped.length} up to date`);
  return 0;
}

/** `--version`: what a bug report needs (the same versions run.json records). */
function versionText(): string {
  const v = packageVersions();
  const names = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'node'];
  return [`cnn-lens ${v['cnn-lens']}`, ...names.map((n) => `${n} ${v[n] ?? '(not installed)'}`)].join('\n');
}

runMain(main, 'Run `npm run pipeline -- --help` for the steps and options.');
