/** `npm run pipeline -- [options]`: see --help. */
import { HELP, parseCli, type CliOptions } from './cli.js';
import { resolveModelOption } from './model-option.js';
import { applyImagesPlan, checkImageOption } from './image-option.js';
import { packageVersions } from './core/manifest.js';
import { consoleLogger, type Logger } from './core/log.js';
import { exitCodeOf } from './core/errors.js';
import { runMain } from './core/run-main.js';
import { newProgress, runPipeline, type RunProgress } from './core/runner.js';
import { finalLine, outcomeOf, testAccuracyOf, type RunOutcome, type RunState } from './run-outcome.js';
import { checkWritable } from './core/files.js';
import { RunStore } from './catalog/store.js';
import { BACKEND_CODE, BACKEND_PACKAGES, initTf, resolveBackend } from './tfjs/backend.js';
import { setNativeThreads } from './tfjs/native-kernels.js';
import { STEPS } from '../steps/index.js';

/** What this invocation got to, for its last line (written whatever ends it, a signal included). */
const state: RunState = {};
let json = false;
/** Writes to stdout as it was: with --json, only the JSON line goes there. */
let stdout = (text: string): void => void process.stdout.write(text);
/** The last line of a failed run, made before main rethrows (reading metrics.json needs awaiting). */
let failedOutcome: RunOutcome | undefined;

async function main(argv: string[]): Promise<number> {
  json = argv.includes('--json');
  if (json) divertStdout();
  const cli = parseCli(argv);
  if (cli.help) {
    stdout(`${HELP}\n`);
    return 0;
  }
  if (cli.version) {
    stdout(`${versionText()}\n`);
    return 0;
  }
  const log = consoleLogger({ quiet: cli.quiet, infoStream: json ? process.stderr : process.stdout });
  state.selected = cli.steps;
  state.progress = newProgress();
  let store: RunStore;
  try {
    store = await run(cli, log, state.progress);
  } catch (err) {
    failedOutcome = outcomeOf(state, { err, code: exitCodeOf(err), testAccuracy: state.store ? await testAccuracyOf(state.store) : null });
    throw err;
  }
  writeLast(outcomeOf(state, { code: 0, testAccuracy: await testAccuracyOf(store) }));
  return 0;
}

async function run(cli: CliOptions, log: Logger, progress: RunProgress): Promise<RunStore> {
  const { runId, params } = await resolveModelOption(cli);
  const store = (state.store = new RunStore(cli.artifacts, runId));
  const images = await checkImageOption(cli, store);
  // Both refuse bad input before anything is written (an unavailable backend, an unwritable folder).
  const backend = resolveBackend(params.backend);
  await checkWritable(store.runDir);
  const summary = await runPipeline({
    steps: STEPS,
    selected: cli.steps,
    params,
    store,
    force: cli.force,
    log,
    backend,
    backendCode: [BACKEND_CODE],
    backendPackages: BACKEND_PACKAGES,
    startBackend: async () => {
      await initTf(params.backend);
      // inference between and after the training steps may use the cores --threads gives
      setNativeThreads(params.threads ?? 1);
    },
    prepare: () => applyImagesPlan(images, store, log),
    progress,
  });
  log.info(`run ${runId}: ${summary.ran.length} step(s) ran, ${summary.skipped.length} up to date`);
  return store;
}

function writeLast(outcome: RunOutcome): void {
  stdout(`${json ? JSON.stringify(outcome) : finalLine(outcome)}\n`);
}

/**
 * --json: stdout carries the one JSON line. Everything else printed, ours or a library's
 * (TensorFlow.js and its wasm module log with console.log), goes to stderr.
 */
function divertStdout(): void {
  const write = process.stdout.write.bind(process.stdout);
  stdout = (text) => void write(text);
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
}

/** `--version`: what a bug report needs (the same versions run.json records). */
function versionText(): string {
  const v = packageVersions();
  const names = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'node'];
  return [`cnn-lens ${v['cnn-lens']}`, ...names.map((n) => `${n} ${v[n] ?? '(not installed)'}`)].join('\n');
}

runMain(main, 'Run `npm run pipeline -- --help` for the steps and options.', (err, code) => {
  // Bad usage starts no run: its error and the usage hint end the output, but --json owes its line.
  if (!json && !state.selected) return;
  writeLast(failedOutcome ?? outcomeOf(state, { err, code }));
});
