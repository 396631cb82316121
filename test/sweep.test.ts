/**
 * `npm run sweep` end to end with the real CLI: 3 seeds x 2 dropout rates on the suite's tiny
 * settings (256 training images, 1 epoch, up to feature-maps, which is all compare reads), 2 runs
 * at a time, gathered by compare; the same sweep again re-uses every run; a run killed by a planted
 * fault is reported while the others are gathered. One of the six runs is the suite's tiny run,
 * copied under the id the sweep derives for it (seed 42 and dropout 0.4 are its settings, given
 * explicitly): it is up to date, so giving the defaults changes no fingerprint. The options' parsing,
 * the plan and the workflow's matrix are checked in process or with bash, which is cheap.
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseCli, PIPELINE_OPTIONS } from '../pipeline/cli.js';
import { UsageError } from '../pipeline/core/errors.js';
import { PROJECT_ROOT, type RunManifest } from '../pipeline/core/manifest.js';
import { parseSeeds, parseSweepCli, SWEEP_HELP, SWEEPABLE, threadsPerRun } from '../pipeline/sweep/cli.js';
import { defaultSweepName, matrixOf, planSweep } from '../pipeline/sweep/plan.js';
import { STEP_NAMES } from '../steps/index.js';
import { readJson, runCli, tempDir, type CliResult } from './helpers.js';

/** No network source, no fault, no folder from the caller's environment. */
const ENV = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '', FASHION_MNIST_DIR: '' };
const runIdOf = (args: string[]) => parseCli(args, {}).runId;
const plan = (argv: string[]) => planSweep(parseSweepCli(argv, PIPELINE_OPTIONS), runIdOf);

const started = performance.now();
let artifacts: string;
/** the tiny run's options without its --run: what every run of the sweep gets */
let tinyOptions: string[];
let sweepArgs: string[];
let faultArgs: string[];
let ids: { seed: number; dropout: string; id: string }[];
let first: CliResult;
const made: string[] = [];

const sweep = (args: string[], env: NodeJS.ProcessEnv = {}): CliResult => runCli('pipeline/sweep-main.ts', args, { ...ENV, ...env });
const idOf = (seed: number, dropout: string) => ids.find((r) => r.seed === seed && r.dropout === dropout)!.id;
const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lineOf = (r: CliResult, id: string) => r.stdout.split('\n').find((l) => new RegExp(`^sweep: \\[\\d+/\\d+\\] ${esc(id)}: `).test(l));
const manifestOf = (id: string) => readJson<RunManifest>(join(artifacts, 'runs', id, 'run.json'));
const nameOf = (argv: string[]) => {
  const o = parseSweepCli(argv, PIPELINE_OPTIONS);
  return defaultSweepName(o, planSweep(o, runIdOf));
};
interface CompareSummary {
  runs: { id: string; group: string }[];
}

afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
  process.stdout.write(`sweep.test.ts: ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
});

describe('a sweep of 3 seeds x 2 dropout rates', () => {
  beforeAll(async () => {
    const tiny = inject('tinyRun');
    const tinyArgs = inject('tinyArgs');
    // The tiny run's own artifacts folder: its dataset cache is the suite's, so the copy stays up to date.
    artifacts = dirname(dirname(tiny));
    const at = tinyArgs.indexOf('--run');
    tinyOptions = [...tinyArgs.slice(0, at), ...tinyArgs.slice(at + 2)];
    sweepArgs = ['--seeds', '42,43,44', '--grid', 'dropout=0.3,0.4', ...tinyOptions, '--to', 'feature-maps', '--jobs', '2', '--artifacts', artifacts];
    ids = plan(sweepArgs).map((r) => ({ seed: Number(r.point[0].value), dropout: r.point[1].value, id: r.id }));
    // Three of the same runs, one of which a planted fault kills.
    faultArgs = ['--seeds', '42,43,44', '--grid', 'dropout=0.3', ...sweepArgs.slice(4)];
    made.push(...ids.map((r) => join(artifacts, 'runs', r.id)));
    for (const name of [nameOf(sweepArgs), nameOf(faultArgs)]) made.push(join(artifacts, 'sweeps', name), join(artifacts, 'compares', name));
    for (const dir of made) await rm(dir, { recursive: true, force: true });
    await mkdir(join(artifacts, 'runs'), { recursive: true });
    await cp(tiny, join(artifacts, 'runs', idOf(42, '0.4')), { recursive: true });
    first = sweep(sweepArgs);
  });

  it('runs every point as an ordinary pipeline run, one line each, and gathers them with compare', async () => {
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(ids.map((r) => r.id)).toEqual([
      'quick-seed42-epochs1-train256-val64-dropout0.3-wasm',
      'quick-seed43-epochs1-train256-val64-dropout0.3-wasm',
      'quick-seed44-epochs1-train256-val64-dropout0.3-wasm',
      'quick-seed42-epochs1-train256-val64-wasm',
      'quick-seed43-epochs1-train256-val64-wasm',
      'quick-seed44-epochs1-train256-val64-wasm',
    ]);
    const counters = first.stdout.match(/^sweep: \[(\d+)\/6\] /gm) ?? [];
    expect(counters.map((c) => Number(/\[(\d+)/.exec(c)![1])).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    // The tiny run, under the id these options derive: seed 42 and dropout 0.4 given explicitly
    // are the settings it was made without, so every step of it is up to date.
    expect(lineOf(first, idOf(42, '0.4'))).toMatch(/: up to date, nothing ran, test accuracy 0\.\d{4} \(/);
    for (const { id } of ids.filter((r) => r.id !== idOf(42, '0.4'))) {
      expect(lineOf(first, id)).toMatch(new RegExp(`: ran ${STEP_NAMES.slice(0, STEP_NAMES.indexOf('feature-maps') + 1).join(', ')}, test accuracy 0\\.\\d{4} \\(`));
    }
    const name = nameOf(sweepArgs);
    expect(first.stdout).toMatch(new RegExp(`^sweep: 6 runs in [\\d.]+ s: 6 finished \\(1 up to date, 5 ran\\), 0 failed; compared in ${esc(join(artifacts, 'compares', name, 'compare.html'))}$`, 'm'));

    const summary = await readJson<CompareSummary>(join(artifacts, 'compares', name, 'summary.json'));
    expect(summary.runs.map((r) => r.id).sort()).toEqual(ids.map((r) => r.id).sort());
    for (const r of summary.runs) expect(r.group).toBe(`dropout=${ids.find((x) => x.id === r.id)!.dropout}`);
    expect(existsSync(join(artifacts, 'compares', name, 'compare.html'))).toBe(true);
    // With 2 jobs each run gets the cores shared out, which its log's first line shows.
    const log = await readFile(join(artifacts, 'sweeps', name, 'logs', `${idOf(43, '0.3')}.log`), 'utf8');
    expect(log.split('\n')[0]).toMatch(new RegExp(`\\] npm run pipeline -- .* --seed 43 --dropout 0\\.3 --artifacts \\S+ --threads ${threadsPerRun(2)} --json$`));
  });

  it('records --dropout in run.json, the model and the train fingerprint; the default leaves them as they were', async () => {
    for (const seed of [43, 44]) {
      const low = await manifestOf(idOf(seed, '0.3'));
      const book = await manifestOf(idOf(seed, '0.4'));
      expect(low.params).toMatchObject({ seed, dropout: 0.3, learningRate: 0.001 });
      expect(book.params).toMatchObject({ seed, dropout: 0.4, learningRate: 0.001 });
      expect(low.steps.train.parts!.params).not.toBe(book.steps.train.parts!.params);
      expect(low.steps.train.fingerprint).not.toBe(book.steps.train.fingerprint);
      const model = await readJson<{ modelTopology: { config: { layers: { class_name: string; config: { rate?: number } }[] } } }>(join(artifacts, 'runs', idOf(seed, '0.3'), 'checkpoint', 'model.json'));
      expect(model.modelTopology.config.layers.find((l) => l.class_name === 'Dropout')?.config.rate).toBe(0.3);
    }
    // The tiny run was made without --dropout: its train params part is the one a run given
    // --dropout 0.4 computes (it was up to date above), and the run made with 0.3 differs.
    const tiny = await readJson<RunManifest>(join(inject('tinyRun'), 'run.json'));
    const copy = await manifestOf(idOf(42, '0.4'));
    expect(copy.steps.train.parts).toEqual(tiny.steps.train.parts);
    expect((await manifestOf(idOf(42, '0.3'))).steps.train.parts!.params).not.toBe(tiny.steps.train.parts!.params);
  });

  it('the same sweep again re-uses every run, trains nothing and says so', () => {
    const again = sweep(sweepArgs);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    for (const { id } of ids) expect(lineOf(again, id)).toMatch(/: up to date, nothing ran, test accuracy 0\.\d{4} \(/);
    expect(again.stdout).toMatch(/^sweep: 6 runs in [\d.]+ s: 6 finished \(6 up to date, 0 ran\), 0 failed; compared in /m);
  });

  it('a run that fails is reported with its exit and the end of its log; the others finish and are gathered; exit 1', async () => {
    // The fault kills one of the runs (its own run lock names it) at its start.
    const args = faultArgs;
    const killed = idOf(43, '0.3');
    const r = sweep(args, { CNN_LENS_FAULT: `lock-held:${killed}` });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const name = nameOf(args);
    const log = join(artifacts, 'sweeps', name, 'logs', `${killed}.log`);
    expect(lineOf(r, killed)).toMatch(new RegExp(`^sweep: \\[\\d/3\\] ${esc(killed)}: FAILED \\(killed by SIGKILL\\) after [\\d.]+ s; log ${esc(log)}$`));
    expect(r.stderr).toContain(`sweep: run ${killed} (seed=43 dropout=0.3) failed: killed by SIGKILL; the end of ${log}:`);
    expect(r.stderr).toContain(`  | fault: SIGKILL at lock-held:${killed}`);
    const others = [idOf(42, '0.3'), idOf(44, '0.3')];
    for (const id of others) expect(lineOf(r, id)).toMatch(/: up to date, nothing ran/);
    expect(r.stdout).toMatch(new RegExp(`^sweep: 3 runs in [\\d.]+ s: 2 finished \\(2 up to date, 0 ran\\), 1 failed: ${esc(killed)} \\(killed by SIGKILL\\); compared in `, 'm'));
    const summary = await readJson<CompareSummary>(join(artifacts, 'compares', name, 'summary.json'));
    expect(summary.runs.map((x) => x.id).sort()).toEqual(others.sort());
  });
});

describe('the sweep command line', () => {
  it('reads seeds as lists and ranges', () => {
    expect(parseSeeds('1-8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseSeeds('1,3,5')).toEqual([1, 3, 5]);
    expect(parseSeeds('1-3,7')).toEqual([1, 2, 3, 7]);
    expect(parseSeeds(' 4 - 5 , 0')).toEqual([4, 5, 0]);
  });

  it.each([
    [['--seeds', '8-1'], /--seeds "8-1" is not valid: the range 8-1 runs backwards/],
    [['--seeds', '1,,2'], /--seeds "1,,2" is not valid: an empty item/],
    [['--seeds', 'a-b'], /--seeds "a-b" is not valid: "a-b" is not a seed or a range/],
    [['--seeds', '1-3,2'], /seed 2 is listed twice/],
    [['--seeds', '1-100000'], /more than 1000 seeds/],
    [['--grid', 'dropout=0.3'], /--seeds is required/],
    [['--seeds', '1', '--grid', 'colour=red,blue'], /--grid colour: unknown grid key \(it is no pipeline option\); a grid varies one of dropout, learning-rate, epochs/],
    [['--seeds', '1', '--grid', 'backend=wasm,cpu'], /--grid backend: not an option a sweep varies \(--backend is the same for every run/],
    [['--seeds', '1', '--grid', 'seed=1,2'], /--grid seed: not an option a sweep varies \(the seeds have their own option, --seeds\)/],
    [['--seeds', '1', '--grid', 'dropout'], /--grid "dropout" is not valid: give <option>=<v1,v2,...>/],
    [['--seeds', '1', '--grid', 'dropout=0.3,0.3'], /0\.3 is listed twice/],
    [['--seeds', '1', '--grid', 'dropout=0.3', '--grid', 'dropout=0.5'], /--grid dropout is given twice/],
    [['--seeds', '1', '--grid', 'dropout=0.3', '--dropout', '0.2'], /--dropout is given both as a pipeline option and in --grid/],
    [['--seeds', '1', '--jobs', '0'], /--jobs "0" is not valid: give a whole number from 1 to 64/],
    [['--seeds', '1', '--jobs', 'two'], /--jobs "two" is not valid/],
    [['--seeds', '1', '--seed', '2'], /--seed cannot be given to a sweep: give the seeds with --seeds/],
    [['--seeds', '1', '--run', 'x'], /--run cannot be given to a sweep/],
    [['--seeds', '1', '--model', 'm.keras'], /--model cannot be given to a sweep/],
    [['--seeds', '1', '--frobnicate'], /unknown option '--frobnicate': neither a sweep option nor a pipeline option/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseSweepCli(argv as string[], PIPELINE_OPTIONS)).toThrow(UsageError);
    expect(() => parseSweepCli(argv as string[], PIPELINE_OPTIONS)).toThrow(message);
  });

  it.each([
    [['--seeds', '1', '--grid', 'dropout=0.3,1.5'], /^--grid dropout=1\.5: --dropout "1\.5" is not valid: give a rate from 0 up to \(not including\) 1/],
    [['--seeds', '1', '--grid', 'learning-rate=0,0.01'], /^--grid learning-rate=0: --learning-rate "0" is not valid: give a number above 0/],
    [['--seeds', '1', '--profile', 'fast'], /^the pipeline options of every run: --profile "fast" is not valid/],
    [['--seeds', '1', '--profile', 'quick', '--grid', 'train-size=64,16'], /^--grid train-size=16: --batch-size 32 is larger than --train-size 16/],
    [['--seeds', '1', '--grid', 'dropout=0.4,0.40'], /^the runs seed=1 dropout=0\.4 and seed=1 dropout=0\.40 are the same run \(book-seed1\)/],
    [['--seeds', '1', 'extra'], /unexpected argument "extra"/],
  ])('refuses the values of %j, naming where they came from', (argv, message) => {
    expect(() => plan(argv as string[])).toThrow(UsageError);
    expect(() => plan(argv as string[])).toThrow(message);
  });

  it('plans the cross product, each run with the id the pipeline derives from its options', () => {
    const runs = plan(['--seeds', '1-2', '--grid', 'dropout=0.3,0.4', '--grid', 'learning-rate=0.001,0.0005', '--profile', 'quick', '--train-size', '2048']);
    expect(runs.map((r) => r.id)).toEqual([
      'quick-seed1-train2048-dropout0.3',
      'quick-seed2-train2048-dropout0.3',
      'quick-seed1-train2048-dropout0.3-lr0.0005',
      'quick-seed2-train2048-dropout0.3-lr0.0005',
      'quick-seed1-train2048',
      'quick-seed2-train2048',
      'quick-seed1-train2048-lr0.0005',
      'quick-seed2-train2048-lr0.0005',
    ]);
    expect(runs[2].args).toEqual(['--profile', 'quick', '--train-size', '2048', '--seed', '1', '--dropout', '0.3', '--learning-rate', '0.0005']);
    for (const r of runs) expect(parseCli(r.args, {}).runId).toBe(r.id);
    expect(threadsPerRun(1, 2)).toBe(2);
    expect(threadsPerRun(2, 2)).toBe(1);
    expect(threadsPerRun(3, 2)).toBe(1);
    expect(threadsPerRun(2, 6)).toBe(3);
    expect(threadsPerRun(1, 64)).toBe(8);
  });

  it('--print-matrix refuses what a GitHub matrix cannot carry', () => {
    expect(() => matrixOf(plan(['--seeds', '1-257']))).toThrow(/257 runs, and GitHub Actions runs at most 256 jobs of one matrix/);
    expect(() => matrixOf(plan(['--seeds', '1', '--data-dir', '/my data']))).toThrow(/"\/my data" has a blank, quote or other character/);
  });

  it('--help names every option of the sweep', () => {
    for (const option of ['--seeds', '--grid', '--jobs', '--print-matrix', '--name', '--artifacts', '--help', ...SWEEPABLE]) expect(SWEEP_HELP).toContain(option);
  });

  it('bad usage exits 2 with the message and the help hint, and writes nothing', () => {
    const root = tempDir();
    const r = sweep(['--seeds', '1-3', '--grid', 'colour=red', '--artifacts', root]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "error: --grid colour: unknown grid key (it is no pipeline option); a grid varies one of dropout, learning-rate, epochs, batch-size, patience, train-size, val-size\nRun `npm run sweep -- --help` for the options.\n",
    );
    expect(r.stdout).toBe('');
    expect(existsSync(join(root, 'sweeps'))).toBe(false);
    expect(existsSync(join(root, 'runs'))).toBe(false);
  });
});

/** The `env:` and `run: |` block of the step named `name` in a workflow (its YAML, as this project writes it). */
function stepOf(yaml: string, name: string): { env: Record<string, string>; run: string } {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l.trim() === `- name: ${name}`);
  expect(at, `step "${name}"`).toBeGreaterThan(-1);
  const indent = lines[at].indexOf('-') + 2;
  const body: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (line.trim() !== '' && line.search(/\S/) < indent) break;
    body.push(line);
  }
  const env: Record<string, string> = {};
  const envAt = body.findIndex((l) => l === `${' '.repeat(indent)}env:`);
  for (const line of envAt < 0 ? [] : body.slice(envAt + 1)) {
    const m = new RegExp(`^ {${indent + 2}}([A-Z_]+): (.*)$`).exec(line);
    if (!m) break;
    env[m[1]] = m[2];
  }
  const runAt = body.findIndex((l) => l === `${' '.repeat(indent)}run: |`);
  expect(runAt, `the run block of "${name}"`).toBeGreaterThan(-1);
  const script: string[] = [];
  for (const line of body.slice(runAt + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    script.push(line.slice(indent + 2));
  }
  return { env, run: script.join('\n') };
}

describe('--print-matrix and the workflow that consumes it', () => {
  it("the matrix job's script prints exactly the sweep's runs, and the run job runs and uploads each under its id", async () => {
    const yaml = await readFile(join(PROJECT_ROOT, '.github', 'workflows', 'sweep.yml'), 'utf8');
    const inputs = { SEEDS: '7,9', GRID: 'dropout=0.3,0.4 learning-rate=0.001,0.0005', PROFILE: 'quick' };

    // The matrix job: its step's script, run by bash as the runner would, inputs as its env maps them.
    const print = stepOf(yaml, 'Print the matrix');
    expect(print.env).toEqual({ SEEDS: '${{ inputs.seeds }}', GRID: '${{ inputs.grid }}', PROFILE: '${{ inputs.profile }}' });
    expect(yaml).toMatch(/^ {6}matrix: \$\{\{ steps\.matrix\.outputs\.matrix \}\}$/m);
    expect(yaml).toMatch(/^ {8}id: matrix$/m);
    const output = join(tempDir(), 'github-output');
    const shown = execFileSync('bash', ['-c', print.run], { cwd: PROJECT_ROOT, env: { ...process.env, BASH_ENV: '', ...ENV, ...inputs, GITHUB_OUTPUT: output }, encoding: 'utf8' });
    const written = await readFile(output, 'utf8');
    expect(written.startsWith('matrix=') && written.endsWith('\n') && written.split('\n').length === 2, written).toBe(true);
    const matrix = JSON.parse(written.slice('matrix='.length)) as { include: { run: string; args: string }[] };
    expect(shown).toBe(`${written.slice('matrix='.length)}`);
    const local = planSweep(parseSweepCli(['--seeds', '7,9', '--grid', 'dropout=0.3,0.4', '--grid', 'learning-rate=0.001,0.0005', '--profile', 'quick'], PIPELINE_OPTIONS), runIdOf);
    expect(matrix).toEqual(matrixOf(local));
    expect(matrix.include).toHaveLength(8);
    expect(matrix.include[0]).toEqual({ run: 'quick-seed7-dropout0.3', args: '--profile quick --seed 7 --dropout 0.3 --learning-rate 0.001' });
    expect(matrix.include[7]).toEqual({ run: 'quick-seed9-lr0.0005', args: '--profile quick --seed 9 --dropout 0.4 --learning-rate 0.0005' });

    // The run job: the matrix consumed whole, and its script (npm stood in for by a function that
    // prints its arguments) gives the pipeline the entry's options and its run id.
    expect(yaml).toMatch(/^ {6}matrix: \$\{\{ fromJSON\(needs\.matrix\.outputs\.matrix\) \}\}$/m);
    const run = stepOf(yaml, 'Run the pipeline');
    expect(run.env).toEqual({ RUN: '${{ matrix.run }}', ARGS: '${{ matrix.args }}' });
    for (const entry of [matrix.include[0], matrix.include[7]]) {
      const printed = execFileSync('bash', ['-c', `npm() { printf '%s\\0' "$@"; }\n${run.run}`], { env: { PATH: process.env.PATH, RUN: entry.run, ARGS: entry.args }, encoding: 'utf8' });
      const argv = printed.split('\0').slice(0, -1);
      expect(argv.slice(0, 3)).toEqual(['run', 'pipeline', '--']);
      const options = argv.slice(3);
      expect(options).toEqual([...entry.args.split(' '), '--run', entry.run]);
      // The id the pipeline takes is the one it would derive from the options alone.
      expect(parseCli(options, {}).runId).toBe(entry.run);
      expect(parseCli(options.slice(0, -2), {}).runId).toBe(entry.run);
    }
    // Uploaded from that folder under a name the gather job finds and puts back under the run id.
    expect(yaml).toContain('          name: cnn-lens-run-${{ matrix.run }}\n          path: artifacts/runs/${{ matrix.run }}\n');
    expect(yaml).toContain('          pattern: cnn-lens-run-*\n          path: downloads\n');
    expect(yaml).toContain('mv "$dir" "artifacts/runs/${dir#downloads/cnn-lens-run-}"');
    expect(yaml).toMatch(/npm run compare -- --runs '\*' --name sweep "\$\{group\[@\]\}"/);
    expect(yaml).toContain('cat artifacts/compares/sweep/summary.md >> "$GITHUB_STEP_SUMMARY"');
  });
});
