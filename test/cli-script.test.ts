/**
 * The pipeline as a CI script sees it (README "Scripting the pipeline", "Listing and pruning runs"):
 * the last line of every run, --json, --quiet, and `npm run runs` with --prune. All on copies of
 * the suite's tiny finished run (test/global-setup.ts), through the real CLI.
 */
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Metrics } from '../pipeline/catalog/schema.js';
import { lockRun } from '../pipeline/core/lock.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import type { RunOutcome } from '../pipeline/run-outcome.js';
import type { RunInfo } from '../pipeline/runs-list.js';
import type { Pruned } from '../pipeline/runs-prune.js';
import { STEP_NAMES } from '../steps/index.js';
import { readJson, runCli, tempDir, type CliResult } from './helpers.js';

/** No network source, no fault, no folder from the caller's environment. */
const ENV = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '', FASHION_MNIST_DIR: '' };

let tiny: string;
let artifacts: string;
let tinyArgs: string[];
const copies: string[] = [];

beforeAll(() => {
  tiny = inject('tinyRun');
  tinyArgs = inject('tinyArgs');
  artifacts = dirname(dirname(tiny));
});

afterAll(async () => {
  for (const dir of copies) await rm(dir, { recursive: true, force: true });
});

/** A copy of the tiny run (`under`: another artifacts folder, default the tiny run's own, whose dataset cache it then shares). */
async function copyTiny(id: string, under = artifacts): Promise<string> {
  const dir = join(under, 'runs', id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await cp(tiny, dir, { recursive: true });
  copies.push(dir);
  return dir;
}

const pipeline = (id: string, more: string[] = []): CliResult => runCli('pipeline/main.ts', [...tinyArgs, '--run', id, '--artifacts', artifacts, ...more], ENV);
const runs = (args: string[]): CliResult => runCli('pipeline/runs-main.ts', args, ENV);
const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');
const manifestOf = (dir: string) => readJson<RunManifest>(join(dir, 'run.json'));
const metricsOf = (dir: string) => readJson<Metrics>(join(dir, 'checkpoint', 'metrics.json'));
/** Bytes of the files under `path`, counted here rather than by the code under test. */
async function bytesUnder(path: string): Promise<number> {
  const info = await lstat(path).catch(() => null);
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await bytesUnder(join(path, entry));
  return total;
}
/** The run's per-epoch training state: train/state and the epochs set aside beside it. */
const sizeOfState = async (dir: string): Promise<number> => (await bytesUnder(join(dir, 'train', 'state'))) + (await bytesUnder(join(dir, 'train', 'state.previous')));

describe('the last line of a pipeline run', () => {
  it('a no-op re-run ends with "report: <path>", a file that exists', async () => {
    const dir = await copyTiny('last-noop');
    const r = pipeline('last-noop');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const step of STEP_NAMES) expect(r.stdout).toContain(`${step}: up to date, skipped`);
    expect(lastLine(r.stdout)).toBe(`report: ${join(dir, 'report.html')}`);
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
  });

  it('a partial run ends with its last step and that step\'s output (--to train, --only weights)', async () => {
    const dir = await copyTiny('last-partial');
    let r = pipeline('last-partial', ['--to', 'train']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(lastLine(r.stdout)).toBe(`train: ${join(dir, 'train')}`);
    r = pipeline('last-partial', ['--only', 'weights', '--force']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^weights: done in /m);
    expect(lastLine(r.stdout)).toBe(`weights: ${join(dir, 'weights')}`);
    expect(existsSync(join(dir, 'weights', 'stats.json'))).toBe(true);
  });

  it('a step that fails ends with "failed: <step>: <error>", exit 1, the error as run.json records it', async () => {
    const dir = await copyTiny('last-failed');
    // A folder where report.html goes: the report step's write fails (an I/O error, not bad input).
    await rm(join(dir, 'report.html'));
    await mkdir(join(dir, 'report.html', 'in-the-way'), { recursive: true });
    const r = pipeline('last-failed');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const recorded = (await manifestOf(dir)).steps.report;
    expect(recorded?.status).toBe('failed');
    expect(recorded?.error).toContain(join(dir, 'report.html'));
    expect(lastLine(r.stdout)).toBe(`failed: report: ${recorded?.error}`);
    expect(r.stderr).toContain(`error: step report failed: ${recorded?.error}`);
  });

  it('bad input met in a step ends with "failed: <step>: <error>", exit 2', async () => {
    const dir = await copyTiny('last-bad-input');
    const metrics = join(dir, 'checkpoint', 'metrics.json');
    await writeFile(metrics, '{}\n');
    const r = pipeline('last-bad-input', ['--only', 'figures']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const errors = lines(r.stderr).filter((l) => l.startsWith('error: '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`${metrics}: field `);
    expect(lastLine(r.stdout)).toBe(`failed: figures: ${errors[0].slice('error: '.length)}`);
  });
});

describe('--json', () => {
  const parseOnly = (r: CliResult): RunOutcome => {
    expect(r.stdout.endsWith('\n'), r.stdout).toBe(true);
    expect(lines(r.stdout), r.stdout).toHaveLength(1);
    return JSON.parse(r.stdout) as RunOutcome;
  };

  it('a no-op re-run: one line of JSON on stdout with the run\'s own values; the human lines on stderr', async () => {
    const dir = await copyTiny('json-noop');
    const r = pipeline('json-noop', ['--json']);
    expect(r.code, r.stderr).toBe(0);
    const o = parseOnly(r);
    const manifest = await manifestOf(dir);
    const metrics = await metricsOf(dir);
    expect(o.run_id).toBe('json-noop');
    expect(o.run_id).toBe(manifest.run_id);
    expect(o.run_dir).toBe(dir);
    expect(o.status).toBe('ok');
    expect(o.exit_code).toBe(0);
    expect(o.ran).toEqual([]);
    expect(o.skipped.map((s) => s.step)).toEqual([...STEP_NAMES]);
    for (const s of o.skipped) expect(s.seconds).toBeGreaterThanOrEqual(0);
    expect(o.test_accuracy).toBe(metrics.test.accuracy);
    expect(o.report).toBe(join(dir, 'report.html'));
    expect(o.output).toEqual({ step: 'report', path: join(dir, 'report.html') });
    expect(o.error).toBeNull();
    expect(r.stderr).toContain(`run json-noop in ${dir}`);
    expect(r.stderr).toContain('train: up to date, skipped');
    expect(r.stderr).toContain(`run json-noop: 0 step(s) ran, ${STEP_NAMES.length} up to date`);
  });

  it('steps that ran carry the seconds run.json records; a partial run has no report', async () => {
    const dir = await copyTiny('json-ran');
    const r = pipeline('json-ran', ['--only', 'weights,feature-maps', '--force', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const o = parseOnly(r);
    const manifest = await manifestOf(dir);
    expect(o.ran).toEqual([
      { step: 'weights', seconds: manifest.steps.weights?.seconds },
      { step: 'feature-maps', seconds: manifest.steps['feature-maps']?.seconds },
    ]);
    expect(o.ran[0].seconds).toBeGreaterThan(0);
    expect(o.skipped).toEqual([]);
    expect(o.report).toBeNull();
    expect(o.output).toEqual({ step: 'feature-maps', path: join(dir, 'feature-maps') });
    expect(o.test_accuracy).toBe((await metricsOf(dir)).test.accuracy);
    expect(r.stderr).toMatch(/^weights: done in /m);
  });

  it('a failed step: status failed, the exit code, the step and its error as run.json records it', async () => {
    const dir = await copyTiny('json-failed');
    await rm(join(dir, 'report.html'));
    await mkdir(join(dir, 'report.html', 'in-the-way'), { recursive: true });
    const r = pipeline('json-failed', ['--json']);
    expect(r.code, r.stderr).toBe(1);
    const o = parseOnly(r);
    const manifest = await manifestOf(dir);
    expect(o.status).toBe('failed');
    expect(o.exit_code).toBe(1);
    expect(o.error).toEqual({ step: 'report', message: manifest.steps.report?.error });
    expect(o.skipped.map((s) => s.step)).toEqual(STEP_NAMES.filter((s) => s !== 'report'));
    expect(o.report).toBeNull();
    expect(o.output).toBeNull();
    expect(o.test_accuracy).toBe((await metricsOf(dir)).test.accuracy);
    expect(r.stderr).toContain('error: step report failed: ');
  });

  it('bad usage: exit 2, and the JSON line carries the error (no run: no id, no step)', () => {
    const r = runCli('pipeline/main.ts', ['--json', '--epochs', 'x', '--artifacts', artifacts], ENV);
    expect(r.code).toBe(2);
    const o = parseOnly(r);
    expect(o).toMatchObject({ status: 'failed', exit_code: 2, run_id: null, run_dir: null, ran: [], skipped: [], report: null, test_accuracy: null });
    expect(o.error).toEqual({ step: null, message: '--epochs "x" is not valid: give a whole number from 1 to 1000' });
    expect(r.stderr).toMatch(/^error: --epochs "x" is not valid/);
  });
});

describe('--quiet', () => {
  it('prints only the final line when all goes well', async () => {
    const dir = await copyTiny('quiet-ok');
    const r = pipeline('quiet-ok', ['--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`report: ${join(dir, 'report.html')}\n`);
    expect(r.stderr).toBe('');
  });

  it('prints the error and the final line when a step fails', async () => {
    const dir = await copyTiny('quiet-failed');
    await rm(join(dir, 'report.html'));
    await mkdir(join(dir, 'report.html', 'in-the-way'), { recursive: true });
    const r = pipeline('quiet-failed', ['-q']);
    expect(r.code).toBe(1);
    const error = (await manifestOf(dir)).steps.report?.error;
    expect(r.stdout).toBe(`failed: report: ${error}\n`);
    expect(r.stderr).toBe(`error: step report failed: ${error}\n`);
  });
});

describe('npm run runs', () => {
  it('lists the tiny run: finished, its profile, its test accuracy from metrics.json, age and size; --json too', async () => {
    // A copy, in an artifacts folder of its own: the suite's folder also holds the runs of the test
    // files running beside this one, whose pipelines add, swap and delete folders while it is listed.
    const under = join(tempDir(), 'artifacts');
    const dir = await copyTiny('tiny', under);
    const metrics = await metricsOf(dir);
    const r = runs(['--artifacts', under]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = lines(r.stdout);
    expect(header).toMatch(/^run\s+status\s+profile\s+test acc\s+age\s+size$/);
    const row = rows.find((l) => l.startsWith('tiny '));
    expect(row, r.stdout).toMatch(new RegExp(`^tiny\\s+finished\\s+quick\\s+${metrics.test.accuracy.toFixed(4).replace('.', '\\.')}\\s+\\d+ (s|min|h|d)\\s+\\d+\\.\\d (kB|MB)$`));

    const j = runs(['--artifacts', under, '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(lines(j.stdout)).toHaveLength(1);
    const info = (JSON.parse(j.stdout) as RunInfo[]).find((x) => x.id === 'tiny')!;
    const manifest = await manifestOf(dir);
    expect(info).toMatchObject({ dir, status: 'finished', note: null, profile: 'quick', model: null, test_accuracy: metrics.test.accuracy, updated: manifest.updated });
    expect(info.age_seconds).toBeGreaterThanOrEqual(0);
    expect(info.state_bytes).toBeGreaterThan(0);
    expect(info.bytes).toBeGreaterThan(info.state_bytes);
  });

  it('says which step failed, what a partial run has left, and which run a live process holds', async () => {
    const under = join(tempDir(), 'artifacts');
    const failed = await copyTiny('failed', under);
    const m = await manifestOf(failed);
    m.steps.figures = { ...m.steps.figures!, status: 'failed', error: 'the figures could not be drawn' };
    await writeFile(join(failed, 'run.json'), JSON.stringify(m));
    const partial = await copyTiny('partial', under);
    const p = await manifestOf(partial);
    delete p.steps.report;
    await writeFile(join(partial, 'run.json'), JSON.stringify(p));
    const locked = await copyTiny('locked', under);
    const release = await lockRun(locked, 'locked');
    try {
      const r = runs(['--artifacts', under, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const byId = new Map((JSON.parse(r.stdout) as RunInfo[]).map((x) => [x.id, x]));
      expect([...byId.keys()]).toEqual(['failed', 'locked', 'partial']);
      expect(byId.get('failed')).toMatchObject({ status: 'failed', note: 'figures: the figures could not be drawn' });
      expect(byId.get('partial')).toMatchObject({ status: 'partial', note: 'not done: report' });
      expect(byId.get('locked')).toMatchObject({ status: 'running', note: `process ${process.pid} on ${hostname()}` });
      expect(runs(['--artifacts', under]).stdout).toMatch(/^locked\s+running\s+quick\s/m);
    } finally {
      await release();
    }
    const after = JSON.parse(runs(['--artifacts', under, '--json']).stdout) as RunInfo[];
    expect(after.find((x) => x.id === 'locked')?.status).toBe('finished');
  });
});

describe('npm run runs -- --prune', () => {
  it('frees the training state of a finished run, and its next pipeline run still skips every step', async () => {
    const dir = await copyTiny('prune-ok');
    const state = await sizeOfState(dir);
    expect(state).toBeGreaterThan(0);
    const history = await readFile(join(dir, 'train', 'history.json'));
    const r = runs(['--artifacts', artifacts, '--prune', 'prune-ok', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { pruned, kept, freed } = JSON.parse(r.stdout) as { pruned: Pruned[]; kept: unknown[]; freed: number };
    expect(pruned).toEqual([{ id: 'prune-ok', freed: state, removed: ['train/state', 'train/state.previous'].filter((d) => existsSync(join(tiny, d))) }]);
    expect(freed).toBe(state);
    expect(kept).toEqual([]);
    expect(existsSync(join(dir, 'train', 'state'))).toBe(false);
    expect(existsSync(join(dir, 'train', 'state.previous'))).toBe(false);
    expect(await readFile(join(dir, 'train', 'history.json'))).toEqual(history);
    expect(await sizeOfState(dir)).toBe(0);

    const again = pipeline('prune-ok');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    for (const step of STEP_NAMES) expect(again.stdout).toContain(`${step}: up to date, skipped`);
    expect(lastLine(again.stdout)).toBe(`report: ${join(dir, 'report.html')}`);
    expect(existsSync(join(dir, 'train', 'state'))).toBe(false);
  });

  it('prunes every finished run and keeps the unfinished and the running ones, whose named prune is refused (exit 2)', async () => {
    const under = join(tempDir(), 'artifacts');
    const done = await copyTiny('done', under);
    const failed = await copyTiny('failed', under);
    const m = await manifestOf(failed);
    m.steps.weights = { ...m.steps.weights!, status: 'failed', error: 'no weights' };
    await writeFile(join(failed, 'run.json'), JSON.stringify(m));
    const partial = await copyTiny('partial', under);
    const p = await manifestOf(partial);
    p.steps = { download: p.steps.download!, train: p.steps.train! };
    await writeFile(join(partial, 'run.json'), JSON.stringify(p));
    const locked = await copyTiny('locked', under);
    const sizes = new Map<string, number>();
    for (const dir of [done, failed, partial, locked]) sizes.set(dir, await sizeOfState(dir));
    const release = await lockRun(locked, 'locked');
    try {
      for (const [id, why] of [['failed', 'is failed (weights: no weights)'], ['partial', `is partial (not done: ${STEP_NAMES.slice(STEP_NAMES.indexOf('checkpoint')).join(', ')})`], ['locked', 'is running (process ']]) {
        const refused = runs(['--artifacts', under, '--prune', 'done', id]);
        expect(refused.code, refused.stdout + refused.stderr).toBe(2);
        expect(refused.stderr).toContain(`error: run ${id} ${why}`);
        expect(refused.stdout).toBe('');
      }
      // Refused whole: the finished run named beside them kept its state too.
      expect(await sizeOfState(done)).toBe(sizes.get(done));

      const r = runs(['--artifacts', under, '--prune']);
      expect(r.code, r.stderr).toBe(0);
      expect(lines(r.stdout)).toEqual([
        expect.stringMatching(/^pruned done: freed \d+\.\d (kB|MB) \(train\/state/),
        'kept failed: failed (weights: no weights)',
        expect.stringMatching(/^kept locked: running \(process \d+ on /),
        `kept partial: partial (not done: ${STEP_NAMES.slice(STEP_NAMES.indexOf('checkpoint')).join(', ')})`,
        expect.stringMatching(/^freed \d+\.\d (kB|MB) in 1 run\(s\)$/),
      ]);
      expect(await sizeOfState(done)).toBe(0);
      for (const dir of [failed, partial, locked]) expect(await sizeOfState(dir)).toBe(sizes.get(dir));
    } finally {
      await release();
    }
  });
});
