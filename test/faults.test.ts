/**
 * The fault suite: the real CLI, as a child process on small settings, killed (kill -9) at chosen
 * moments, run twice at once, pointed at a full or read-only disk, fed damaged artifacts and
 * hostile strings. The promise under test: it either finishes correctly or stops with a clear
 * message, and never leaves or uses a corrupted artifact. "Correctly" is checked against one
 * uninterrupted run (the baseline) made with the same settings and seed: every artifact that
 * carries no time is byte-identical to the baseline's, the others equal it field for field.
 *
 * Precise kill moments come from pipeline/core/fault.ts (CNN_LENS_FAULT): the child kills itself
 * there, or pauses there until the test has sent its signal from outside (pauseAt), so that no
 * test depends on how fast the machine is.
 * The disk tests mount tmpfs and need root; elsewhere they are skipped, saying why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageOf } from '../pipeline/core/errors.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import type { History } from '../pipeline/catalog/schema.js';
import { writeFileSafe } from '../pipeline/core/files.js';
import { tempDir } from './helpers.js';
import { viewPage } from './helpers/browser-check.js';
import { SYSTEM_DATASET } from './helpers/fixture-run.js';
import { pauseAt, runPipelineCli, snapshot, startPipeline, type Finished } from './helpers/pipeline-process.js';

/**
 * A whole run on 2 cores in about 12 s, most of it fixed costs (start-up, the 10,000 test images);
 * training is small because no test here needs a good model, only a deterministic one. The wasm
 * backend is pinned so that CI with tfjs-node matches.
 */
const SMALL = ['--profile', 'quick', '--train-size', '256', '--val-size', '64', '--epochs', '3', '--backend', 'wasm'];
/** For the tests about training alone: the steps after it are covered by the baseline and the chain. */
const TO_TRAIN = ['--to', 'train'];

const root = tempDir('cnn-lens-faults-');
/** The baseline run and the dataset cache that most tests' runs share. */
const artifacts = join(root, 'artifacts');
const runDir = (id: string, under = artifacts) => join(under, 'runs', id);
const args = (id: string, more: string[] = [], under = artifacts) => [...SMALL, '--artifacts', under, '--run', id, ...more];
const BASE = runDir('base');

let baseline: Map<string, string>;

const json = async <T = Record<string, unknown>>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;
const manifestOf = (dir: string) => json<RunManifest>(join(dir, 'run.json'));
const statusOf = async (dir: string, step: string) => (await manifestOf(dir)).steps[step]?.status;
/** The epochs a run's output says it trained. */
const epochsIn = (out: string) => [...out.matchAll(/^epoch (\d+)\/3: /gm)].map((m) => Number(m[1]));
const ran = (r: Finished, step: string) => new RegExp(`^${step}: running\\b`, 'm').test(r.stdout);
const skipped = (r: Finished, step: string) => r.stdout.includes(`${step}: up to date, skipped`);

function expectOk(r: Finished): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}
function expectKilled(r: Finished): void {
  expect(r.signal, `${r.stdout}\n${r.stderr}`).toBe('SIGKILL');
}
/** Exit code, and an error that is one line (the stderr may hold warnings before it). */
function expectError(r: Finished, code: number): string {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(code);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  expect(errors, r.stderr).toHaveLength(1);
  return errors[0];
}

/** Files that carry times or the run id: compared field by field instead of byte for byte. */
const TIMED = /^(run\.json|report\.html|report\.json|train\/history\.json|train\/state\/epoch-\d+\/tensors\.json|mistakes\/index\.json)$/;

function withoutTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimes);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'seconds' && k !== 'samples_per_s')
        .map(([k, v]) => [k, withoutTimes(v)]),
    );
  }
  return value;
}

/**
 * The run folder holds exactly the baseline's files and folders (no staging folder, no .old, no
 * temporary file, no lock), byte-identical but for the timed files, which equal the baseline's
 * but for seconds, samples/s and (report.json) the run's own identity and step times.
 */
async function expectSameAsBaseline(dir: string): Promise<void> {
  const got = await snapshot(dir);
  expect([...got.keys()]).toEqual([...baseline.keys()]);
  const stable = (m: Map<string, string>) => [...m].filter(([p]) => !TIMED.test(p));
  expect(stable(got)).toEqual(stable(baseline));
  for (const path of [...baseline.keys()].filter((p) => /(history|tensors|mistakes\/index)\.json$/.test(p))) {
    expect(withoutTimes(await json(join(dir, path))), path).toEqual(withoutTimes(await json(join(BASE, path))));
  }
  const report = async (d: string) => {
    const { run: _run, ...rest } = await json(join(d, 'report.json'));
    return withoutTimes(rest);
  };
  expect(await report(dir)).toEqual(await report(BASE));
  expect((await stat(join(dir, 'report.html'))).size).toBeGreaterThan(100_000);
}

/** The baseline's files under one folder of the run, e.g. "weights/". */
const part = (m: Map<string, string>, prefix: string) => [...m].filter(([p]) => p.startsWith(prefix) && p !== prefix);

/**
 * Training ended as the baseline's did: train/ holds the same files, the best model and every
 * kept epoch's weights and Adam state byte for byte, history.json and each tensors.json equal but
 * for times. What the later steps make of it is then the baseline's too (they are deterministic in
 * train's output: the baseline and the chain below compare whole runs).
 */
async function expectSameTrainingAsBaseline(dir: string): Promise<void> {
  const got = part(await snapshot(dir), 'train/');
  const want = part(baseline, 'train/');
  expect(got.map(([p]) => p)).toEqual(want.map(([p]) => p));
  const stable = (m: [string, string][]) => m.filter(([p]) => !TIMED.test(p));
  expect(stable(got)).toEqual(stable(want));
  for (const [path] of want.filter(([p]) => TIMED.test(p))) {
    expect(withoutTimes(await json(join(dir, path))), path).toEqual(withoutTimes(await json(join(BASE, path))));
  }
  expect(await statusOf(dir, 'train')).toBe('ok');
}

async function copyRun(id: string, under = artifacts): Promise<string> {
  await cp(BASE, runDir(id, under), { recursive: true });
  return runDir(id, under);
}

beforeAll(async () => {
  const r = await runPipelineCli(args('base'));
  expectOk(r);
  console.log(`baseline run: ${r.seconds.toFixed(1)} s`);
  baseline = await snapshot(BASE);
  // Not vacuous: the comparisons below cover the model, every tensor and every figure.
  expect(baseline.get('checkpoint/weights.bin')).toBeDefined();
  expect(part(baseline, 'weights/').filter(([p]) => p.endsWith('.npy')).length).toBeGreaterThanOrEqual(16);
  expect(part(baseline, 'figures/').filter(([p]) => p.endsWith('.svg')).length).toBeGreaterThan(10);
  expect(baseline.has('.lock/')).toBe(false);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// The moment of a kill from outside is made, not hoped for: the child pauses at a fault point
// (epoch 2 trained, its state about to be written) until the test has sent its signal.

describe('kill -9 during training', () => {
  it('the same command resumes after the last finished epoch and ends bit-identical to an uninterrupted run', async () => {
    const id = 'killed-in-train';
    const dir = runDir(id);
    const pause = pauseAt('write:tensors.bin', root, 2);
    const first = startPipeline(args(id, TO_TRAIN), pause.env);
    await first.waitFor(pause.reached);
    const killed = await first.kill9();
    expectKilled(killed);
    expect(epochsIn(killed.stdout)).toEqual([1]);

    // The pointer names the last finished epoch.
    const { epoch: finished } = await json<{ epoch: number }>(join(dir, 'train', 'state', 'latest.json'));
    expect(finished).toBe(1);
    expect(await statusOf(dir, 'train')).toBe('running');
    // kill -9 runs no exit handler: the lock stays, naming the dead process; the next run takes it.
    expect(existsSync(join(dir, '.lock'))).toBe(true);
    expect((await json<{ pid: number }>(join(dir, '.lock', 'owner.json'))).pid).toBe(first.pid);

    const again = await runPipelineCli(args(id, TO_TRAIN));
    expectOk(again);
    expect(again.stdout).toContain(`train: resuming after epoch ${finished}`);
    expect(epochsIn(again.stdout)).toEqual([2, 3]);
    const history = await json<History>(join(dir, 'train', 'history.json'));
    expect(history.rows.map((r) => r.epoch)).toEqual([1, 2, 3]);
    await expectSameTrainingAsBaseline(dir);
  });
});

describe('Ctrl-C during training', () => {
  it('exits 130 saying how to resume, releases the lock, and the same command resumes', async () => {
    const id = 'interrupted-in-train';
    const dir = runDir(id);
    const pause = pauseAt('write:tensors.bin', root, 2);
    const first = startPipeline(args(id, TO_TRAIN), pause.env);
    await first.waitFor(pause.reached);
    // The signal waits while the child is paused; it is handled as soon as the child goes on.
    const stopping = first.interrupt();
    await pause.release();
    const stopped = await stopping;
    expect(stopped.code, `${stopped.stdout}\n${stopped.stderr}`).toBe(130);
    expect(stopped.stderr).toContain('interrupted (SIGINT): finished steps and epochs are kept; run the same command again to resume');
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(existsSync(join(dir, '.lock-owner.json'))).toBe(false);
    const { epoch: finished } = await json<{ epoch: number }>(join(dir, 'train', 'state', 'latest.json'));
    expect(finished).toBeGreaterThanOrEqual(1);
    expect(finished).toBeLessThan(3);

    const again = await runPipelineCli(args(id, TO_TRAIN));
    expectOk(again);
    expect(again.stdout).toContain(`train: resuming after epoch ${finished}`);
    await expectSameTrainingAsBaseline(dir);
  });
});

describe('SIGTERM', () => {
  it('exits 143 saying how to resume, and releases the lock', async () => {
    const id = 'terminated';
    const dir = await copyRun(id);
    // Held inside the run, its lock taken, at the end of a quick step.
    const pause = pauseAt('step-done:download', root);
    const run = startPipeline(args(id, ['--only', 'download', '--force']), pause.env);
    await run.waitFor(pause.reached);
    const stopping = run.terminate();
    await pause.release();
    const stopped = await stopping;
    expect(stopped.code, `${stopped.stdout}\n${stopped.stderr}`).toBe(143);
    expect(stopped.stderr).toContain('interrupted (SIGTERM): finished steps and epochs are kept; run the same command again to resume');
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(existsSync(join(dir, '.lock-owner.json'))).toBe(false);
  });
});

describe('a fresh run killed in every step in turn, each time run again with the same command', () => {
  const under = join(root, 'chain');
  const id = 'chain';
  const dir = runDir(id, under);
  const cache = join(under, 'data', 'fashion-mnist');
  const run = (fault: string) => runPipelineCli(args(id, [], under), { CNN_LENS_FAULT: fault });
  const temps = async (folder: string) => (await readdir(folder)).filter((f) => f.endsWith('.tmp'));

  it('download, in the middle of writing a cache file: the file is absent, not half there', async () => {
    const r = await run('write:t10k-images-idx3-ubyte.gz');
    expectKilled(r);
    expect(await statusOf(dir, 'download')).toBe('running');
    const files = await readdir(cache);
    expect(files).not.toContain('t10k-images-idx3-ubyte.gz');
    expect(await temps(cache)).toHaveLength(1);
    expect(existsSync(join(cache, '.lock'))).toBe(true); // the killed writer's lock of the shared cache
    // The cache vouches only for the two files it finished.
    const manifest = await json<{ files: Record<string, unknown> }>(join(cache, 'manifest.json'));
    expect(Object.keys(manifest.files).sort()).toEqual(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz']);
  });

  it("train, in the middle of writing epoch 2's tensors.bin: download is redone, epoch 1 stays the last good one", async () => {
    const r = await run('write:tensors.bin@2');
    expectKilled(r);
    expect(r.stdout).toContain('removed 1 temporary file(s) left by a killed run');
    expect(ran(r, 'download')).toBe(true);
    // The dead writer's cache lock is taken over at once, not waited out (30 s) as another pipeline's.
    expect(r.stdout).not.toContain('waiting for another pipeline');
    expect(r.stdout).toContain('train-images-idx3-ubyte.gz: cached, verified');
    expect(r.stdout).toContain(`t10k-images-idx3-ubyte.gz: verified, from ${join(SYSTEM_DATASET, 't10k-images-idx3-ubyte.gz')}`);
    expect(await temps(cache)).toEqual([]);
    expect(epochsIn(r.stdout)).toEqual([1]);
    expect(await statusOf(dir, 'download')).toBe('ok');
    expect(await statusOf(dir, 'train')).toBe('running');
    const state = join(dir, 'train', 'state');
    expect((await json<{ epoch: number }>(join(state, 'latest.json'))).epoch).toBe(1);
    // Epoch 2's folder holds only the half-written temporary file: no tensors.bin to mistake for good.
    const [tmp, ...rest] = await readdir(join(state, 'epoch-0002'));
    expect(rest).toEqual([]);
    expect(tmp).toMatch(/^\.tensors\.bin\.\d+\.\d+\.tmp$/);
    const full = (await stat(join(state, 'epoch-0001', 'tensors.bin'))).size;
    expect((await stat(join(state, 'epoch-0002', tmp))).size).toBe(Math.floor(full / 2));
  });

  it('train, after epoch 2 is written but before latest.json points at it: resumes after epoch 1 again', async () => {
    const r = await run('epoch-unpointed');
    expectKilled(r);
    expect(r.stdout).toContain('removed 1 temporary file(s) left by a killed run');
    expect(skipped(r, 'download')).toBe(true);
    expect(r.stdout).toContain('train: resuming after epoch 1');
    expect(epochsIn(r.stdout)).toEqual([]); // killed before epoch 2's line
    const state = join(dir, 'train', 'state');
    expect((await json<{ epoch: number }>(join(state, 'latest.json'))).epoch).toBe(1);
    expect((await readdir(join(state, 'epoch-0002'))).sort()).toEqual(['tensors.bin', 'tensors.json']);
  });

  it('checkpoint, finished in its staging folder but not swapped in', async () => {
    const r = await run('step-done:checkpoint');
    expectKilled(r);
    expect(r.stdout).toContain('train: resuming after epoch 1');
    expect(epochsIn(r.stdout)).toEqual([2, 3]);
    expect(await statusOf(dir, 'train')).toBe('ok');
    expect(await statusOf(dir, 'checkpoint')).toBe('running');
    expect(existsSync(join(dir, 'checkpoint'))).toBe(false);
    expect((await readdir(join(dir, 'checkpoint.staging'))).sort()).toEqual(['metrics.json', 'model.json', 'model.keras', 'weights.bin']);
  });

  it('weights, finished in its staging folder but not swapped in: checkpoint is redone first', async () => {
    const r = await run('step-done:weights');
    expectKilled(r);
    expect(skipped(r, 'train')).toBe(true);
    expect(ran(r, 'checkpoint')).toBe(true);
    expect(await statusOf(dir, 'checkpoint')).toBe('ok');
    expect(await statusOf(dir, 'weights')).toBe('running');
    expect(existsSync(join(dir, 'checkpoint.staging'))).toBe(false);
    expect(existsSync(join(dir, 'weights'))).toBe(false);
    expect(existsSync(join(dir, 'weights.staging', 'stats.json'))).toBe(true);
  });

  it('feature-maps, in the middle of writing its index.json', async () => {
    const r = await run('write:index.json');
    expectKilled(r);
    expect(ran(r, 'weights')).toBe(true);
    expect(await statusOf(dir, 'feature-maps')).toBe('running');
    expect(existsSync(join(dir, 'feature-maps'))).toBe(false);
    const staged = await readdir(join(dir, 'feature-maps.staging'));
    expect(staged).not.toContain('index.json');
    expect(staged.filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
  });

  it('figures, finished in its staging folder but not swapped in', async () => {
    const r = await run('step-done:figures');
    expectKilled(r);
    expect(ran(r, 'feature-maps')).toBe(true);
    expect(await statusOf(dir, 'figures')).toBe('running');
    expect(existsSync(join(dir, 'figures'))).toBe(false);
  });

  it('report, in the middle of writing report.html', async () => {
    const r = await run('write:report.html');
    expectKilled(r);
    expect(ran(r, 'figures')).toBe(true);
    expect(await statusOf(dir, 'report')).toBe('running');
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
    expect(await temps(dir)).toHaveLength(1);
  });

  it('the next run redoes only the report, and the run equals an uninterrupted one', async () => {
    const r = await run('');
    expectOk(r);
    expect(r.stdout).toContain('removed 1 temporary file(s) left by a killed run');
    for (const step of ['download', 'train', 'checkpoint', 'weights', 'feature-maps', 'figures'] as const) expect(skipped(r, step), step).toBe(true);
    expect(ran(r, 'report')).toBe(true);
    await expectSameAsBaseline(dir);
  });
});

describe('kill -9 while a step folder is swapped in', () => {
  it('between the two renames the old folder is set aside whole, never half-replaced; the next run redoes the step', async () => {
    const id = 'swapped';
    const dir = await copyRun(id);
    const r = await runPipelineCli(args(id, ['--only', 'figures', '--force']), { CNN_LENS_FAULT: 'swap:figures' });
    expectKilled(r);
    expect(existsSync(join(dir, 'figures'))).toBe(false);
    const old = await snapshot(join(dir, 'figures.old'));
    expect([...old]).toEqual(part(baseline, 'figures/').map(([p, h]) => [p.slice('figures/'.length), h]));
    expect(existsSync(join(dir, 'figures.staging', 'index.json'))).toBe(true);
    expect(await statusOf(dir, 'figures')).toBe('running');

    const again = await runPipelineCli(args(id));
    expectOk(again);
    expect(ran(again, 'figures')).toBe(true);
    // The redone figures are the same bytes: the report that reads them stays up to date.
    expect(skipped(again, 'report')).toBe(true);
    await expectSameAsBaseline(dir);
  });
});

describe('damaged training checkpoints are never trained on', () => {
  // Each test makes train run again with the same fingerprint (its history.json is gone), so
  // that it resumes from the saved epochs the test damaged.
  it("an epoch whose tensors.bin is truncated fails its SHA-256: resume falls back to the previous kept epoch", async () => {
    const id = 'fallback';
    const dir = await copyRun(id);
    const state = join(dir, 'train', 'state');
    const bin = join(state, 'epoch-0003', 'tensors.bin');
    await truncate(bin, Math.floor((await stat(bin)).size / 2));
    await rm(join(dir, 'train', 'history.json'));
    const r = await runPipelineCli(args(id, TO_TRAIN));
    expectOk(r);
    expect(r.stderr).toContain(`saved epoch 3 in ${state} does not load (${bin} does not match its recorded SHA-256 (truncated or changed)); trying an older one`);
    expect(r.stderr).toContain('resumed from epoch 2, the newest epoch that loads');
    expect(r.stdout).toContain('train: resuming after epoch 2');
    expect(epochsIn(r.stdout)).toEqual([3]);
    await expectSameTrainingAsBaseline(dir);
  });

  it('when no kept epoch loads (one truncated, one with a flipped byte), training starts clean and ends bit-identical all the same', async () => {
    const id = 'clean-start';
    const dir = await copyRun(id);
    const state = join(dir, 'train', 'state');
    const three = join(state, 'epoch-0003', 'tensors.bin');
    await truncate(three, 1000);
    const two = join(state, 'epoch-0002', 'tensors.bin');
    const bytes = await readFile(two);
    bytes[bytes.length >> 1] ^= 0x01;
    await writeFile(two, bytes);
    await rm(join(dir, 'train', 'history.json'));
    const r = await runPipelineCli(args(id, TO_TRAIN));
    expectOk(r);
    expect(r.stderr).toContain(`saved epoch 2 in ${state} does not load (${two} does not match its recorded SHA-256`);
    expect(r.stderr).toContain(`no saved epoch in ${state} loads: starting clean`);
    expect(r.stdout).not.toContain('resuming');
    expect(epochsIn(r.stdout)).toEqual([1, 2, 3]);
    await expectSameTrainingAsBaseline(dir);
  });
});

describe('a damaged checkpoint model', () => {
  it('a truncated shard, a missing shard and wrong shapes are refused (exit 2) by the steps that read them, touching nothing; the next full run redoes the checkpoint', async () => {
    const id = 'bad-model';
    const dir = await copyRun(id);
    const modelJson = join(dir, 'checkpoint', 'model.json');
    const shard = join(dir, 'checkpoint', 'weights.bin');
    const good = await readFile(shard);
    const goodJson = await readFile(modelJson, 'utf8');
    const before = await snapshot(dir);
    const unchanged = async (prefix: string) => {
      expect(part(await snapshot(dir), prefix)).toEqual(part(before, prefix));
      expect(existsSync(join(dir, `${prefix.slice(0, -1)}.staging`))).toBe(false);
    };

    await writeFile(shard, good.subarray(0, good.length - 1000));
    let r = await runPipelineCli(args(id, ['--only', 'weights']));
    expect(expectError(r, 2)).toBe(
      `error: weights of ${modelJson} hold ${good.length - 1000} bytes but its manifest needs ${good.length}: the shard is truncated or belongs to another model; ` +
        `re-create it (npm run pipeline -- --only checkpoint --force) or restore the folder ${join(dir, 'checkpoint')}`,
    );
    await unchanged('weights/');
    const m = await manifestOf(dir);
    expect(m.steps.weights?.status).toBe('failed');
    expect(m.steps.weights?.error).toContain('the shard is truncated');

    await rm(shard);
    r = await runPipelineCli(args(id, ['--only', 'feature-maps']));
    // The runner sees the missing input before the step starts (the shard is one of its reads).
    expect(expectError(r, 2)).toBe(
      `error: step feature-maps needs ${shard}, which is missing: run the earlier steps first (npm run pipeline -- --to feature-maps)`,
    );
    await unchanged('feature-maps/');

    await writeFile(shard, good);
    const model = JSON.parse(goodJson) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] };
    const kernel = model.weightsManifest[0].weights.find((w) => w.name === 'conv2d/kernel')!;
    expect(kernel.shape).toEqual([3, 3, 1, 32]);
    kernel.shape = [3, 3, 32, 1]; // the same number of bytes: only the shapes can tell
    await writeFile(modelJson, JSON.stringify(model));
    r = await runPipelineCli(args(id, ['--only', 'weights']));
    expect(expectError(r, 2)).toContain(`error: ${modelJson} does not load: Shape mismatch: [3,3,1,32] vs. [3,3,32,1]; re-create it`);
    await unchanged('weights/');

    r = await runPipelineCli(args(id));
    expectOk(r);
    expect(ran(r, 'checkpoint')).toBe(true);
    await expectSameAsBaseline(dir);
  });
});

describe('a garbage run.json', () => {
  it('is refused with exit 2 and a message naming it; nothing in the run folder changes, no lock is left', async () => {
    const id = 'garbage';
    const dir = await copyRun(id);
    await writeFile(join(dir, 'run.json'), '{"run_id": "garbage", "steps": {"download": {"status": "ok"');
    const before = await snapshot(dir);
    const r = await runPipelineCli(args(id));
    const error = expectError(r, 2);
    expect(error).toMatch(new RegExp(`^error: ${join(dir, 'run.json')} is corrupt \\(.*JSON.*\\): delete it to redo the run's steps`));
    expect(await snapshot(dir)).toEqual(before);
  });
});

describe('a damaged dataset cache, from the CLI', () => {
  // The cache is verified as it loads: a step that reads it refuses a bad file even when the
  // download step is not run. (test/download.test.ts covers the repair by the download step.)
  const under = join(root, 'bad-cache');
  const id = 'bad-cache';
  const dir = runDir(id, under);
  const cache = join(under, 'data', 'fashion-mnist');
  const labels = join(cache, 't10k-labels-idx1-ubyte.gz');
  let good: Buffer;

  beforeAll(async () => {
    await cp(join(artifacts, 'data'), join(under, 'data'), { recursive: true });
    await copyRun(id, under);
    good = await readFile(labels);
  });

  const idx = () => gunzipSync(good);
  const cases: [string, () => Buffer, RegExp][] = [
    ['a truncated .gz', () => good.subarray(0, good.length >> 1), /damaged gzip data \(unexpected end of file\)/],
    ['a file that is not gzip at all (an HTML error page)', () => Buffer.from('<html><body>404 Not Found</body></html>\n'), /t10k-labels-idx1-ubyte\.gz is not gzip data \(the cache holds the \.gz files/],
    ['an IDX file with the wrong magic number, gzipped', () => {
      const raw = idx();
      raw.writeUInt32BE(2051, 0); // the images' magic on the labels file
      return gzipSync(raw);
    }, /t10k-labels-idx1-ubyte\.gz: IDX magic 2051, expected 2049 \(labels\); it is not t10k-labels-idx1-ubyte/],
    ['one flipped byte inside valid gzip data', () => {
      const raw = idx();
      raw[5000] ^= 0x01;
      return gzipSync(raw);
    }, /is not the pinned Fashion-MNIST file \(SHA-256 [0-9a-f]{12}\.\.\., expected 0402a96d92fd\.\.\.\)/],
  ];

  for (const [what, bytes, why] of cases) {
    it(`${what}: training refuses it (exit 2), naming the file and the fix, and writes nothing`, async () => {
      await writeFile(labels, bytes());
      const before = await snapshot(join(dir, 'train'));
      const r = await runPipelineCli(args(id, ['--from', 'train'], under));
      const error = expectError(r, 2);
      expect(error).toContain(`error: ${labels}`);
      expect(error).toMatch(why);
      expect(error).toContain('run `npm run pipeline -- --only download --force` (or delete the file) to fetch a verified copy');
      expect(await snapshot(join(dir, 'train'))).toEqual(before);
      expect((await manifestOf(dir)).steps.train?.status).toBe('failed');
      expect(epochsIn(r.stdout)).toEqual([]);
    });
  }

  it('the next run repairs the cache from a verified source and finishes equal to an uninterrupted run', async () => {
    const r = await runPipelineCli(args(id, [], under));
    expectOk(r);
    expect(r.stderr).toContain(`${labels} changed since it was verified and fails verification`);
    expect(r.stdout).toContain(`t10k-labels-idx1-ubyte.gz: verified, from ${join(SYSTEM_DATASET, 't10k-labels-idx1-ubyte.gz')}`);
    expect(await readFile(labels)).toEqual(good);
    // Train's inputs are the verified bytes again: its saved epochs resume, nothing is retrained.
    expect(r.stdout).toContain('train: all 3 epochs are saved for these params, data, backend and training code: replaying them, no training');
    expect(epochsIn(r.stdout)).toEqual([]);
    // ...and it saves the same model as before, so nothing after it is redone.
    for (const step of ['checkpoint', 'weights', 'feature-maps', 'figures', 'report'] as const) expect(skipped(r, step), step).toBe(true);
    await expectSameAsBaseline(dir);
  });
});

describe('two pipelines on one run', () => {
  it('the second fails at once (exit 2) naming the holder; after a kill -9 of the holder, the next run takes the lock over', async () => {
    const id = 'locked';
    const dir = await copyRun(id);
    // The holder is held inside its run (lock taken, download done) until it is killed: the
    // second meets a live holder whatever the machine's speed, and would hang here if it waited.
    const pause = pauseAt('step-done:download', root);
    const holder = startPipeline(args(id, ['--only', 'download', '--force']), pause.env);
    await holder.waitFor(pause.reached);
    const second = await runPipelineCli(args(id));
    const error = expectError(second, 2);
    expect(error).toContain(`error: run ${id} is being written by process ${holder.pid} on ${hostname()} (since `);
    expect(error).toContain(`wait for it to finish, or use another --run id. If no such process exists, delete ${join(dir, '.lock')}.`);
    expect(second.stdout).not.toMatch(/: running\b/m);
    console.log(`second pipeline refused after ${second.seconds.toFixed(1)} s`);

    expectKilled(await holder.kill9());
    expect(existsSync(join(dir, '.lock'))).toBe(true);
    const next = await runPipelineCli(args(id));
    expectOk(next);
    expect(next.stdout).toContain(`took over the lock of run ${id} from process ${holder.pid} on ${hostname()}`);
    await expectSameAsBaseline(dir);
  });
});

describe('an artifacts folder this user cannot write', () => {
  it('a folder this user cannot write (EACCES): exit 2, naming it', async () => {
    const closed = join(root, 'closed');
    await mkdir(closed, { mode: 0o555 });
    await chmod(root, 0o755); // mkdtemp made it 0700: let the other user reach `closed`
    // root writes anywhere: run the child as nobody to meet the permission check.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    const r = await runPipelineCli(args('any', [], closed), {}, as);
    expect(expectError(r, 2)).toBe(
      `error: cannot access ${closed}: permission denied (EACCES); pass --artifacts <a folder you can write>, or give this user write access to it`,
    );
    expect(await readdir(closed)).toEqual([]);
  });
});

/** tmpfs mounts need root (CAP_SYS_ADMIN); probed once, so the skip says why. */
function probeMount(): string | null {
  const dir = tempDir('cnn-lens-mount-probe-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status === 0) spawnSync('umount', [dir]);
  spawnSync('rmdir', [dir]);
  return r.status === 0 ? null : `cannot mount a tmpfs here (${(r.stderr || r.error?.message || 'mount failed').trim()}); run the suite as root to test a full or read-only disk`;
}
const mountProblem = probeMount();
if (mountProblem) console.warn(`skipping the disk tests: ${mountProblem}`);

describe.skipIf(mountProblem !== null)('the artifacts folder on a full or read-only disk', () => {
  const mounted: string[] = [];
  const mount = (dir: string, options: string) => {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    mounted.push(dir);
  };
  const remount = (dir: string, options: string) => {
    const r = spawnSync('mount', ['-o', `remount,${options}`, dir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  };
  afterAll(() => {
    for (const dir of mounted.reverse()) spawnSync('umount', [dir]);
  });

  it('a read-only folder: exit 2, one line naming the folder, EROFS and the fix; nothing written', async () => {
    const ro = join(root, 'ro-empty');
    await mkdir(ro);
    mount(ro, 'ro,size=1m');
    const r = await runPipelineCli(args('any', [], ro));
    expect(expectError(r, 2)).toBe(`error: cannot write ${ro}: read-only file system (EROFS); pass --artifacts <a writable folder>, or remount it read-write`);
    expect(await readdir(ro)).toEqual([]);
  });

  it('a run made read-only after it finished: exit 2, and the run folder is untouched', async () => {
    const disk = join(root, 'ro-run');
    await mkdir(disk);
    mount(disk, 'size=64m');
    await cp(join(artifacts, 'data'), join(disk, 'data'), { recursive: true });
    const dir = await copyRun('ro', disk);
    remount(disk, 'ro');
    const before = await snapshot(disk);
    const r = await runPipelineCli(args('ro', [], disk));
    expect(expectError(r, 2)).toBe(`error: cannot write ${dir}: read-only file system (EROFS); pass --artifacts <a writable folder>, or remount it read-write`);
    expect(await snapshot(disk)).toEqual(before);
  });

  it('an atomic write that does not fit fails with ENOSPC naming the file, and the old file stays whole', async () => {
    // write-file-atomic, used before, resolved here and renamed the truncated temporary file over
    // the old one: write(2) on a full disk writes what fits and returns a short count, no error.
    const disk = join(root, 'tiny');
    await mkdir(disk);
    mount(disk, 'size=1m');
    const path = join(disk, 'a.bin');
    const old = Buffer.alloc(1000, 1);
    await writeFileSafe(path, old);
    const err = (await writeFileSafe(path, Buffer.alloc(2 * 2 ** 20, 7)).catch((e: unknown) => e)) as NodeJS.ErrnoException;
    expect(err.code).toBe('ENOSPC');
    expect(messageOf(err)).toBe(
      `cannot write ${path}: no space left on the device (ENOSPC); free space there or pass --artifacts <a folder on a larger disk>, then run the same command again (finished steps and epochs are kept)`,
    );
    expect(await readFile(path)).toEqual(old);
    expect(await readdir(disk)).toEqual(['a.bin']);
  });

  it('a disk that fills up during training: exit 1 naming the file and ENOSPC, no truncated file kept; with room again the run resumes and ends equal', async () => {
    const disk = join(root, 'full');
    await mkdir(disk);
    let used = 0;
    for (const f of await readdir(join(artifacts, 'data', 'fashion-mnist'))) used += (await stat(join(artifacts, 'data', 'fashion-mnist', f))).size;
    // Room for the dataset and one epoch's state (about 4 MB), not two.
    mount(disk, `size=${used + 6 * 2 ** 20}`);
    await cp(join(artifacts, 'data'), join(disk, 'data'), { recursive: true });
    const id = 'full';
    const dir = runDir(id, disk);
    const r = await runPipelineCli(args(id, TO_TRAIN, disk));
    const error = expectError(r, 1);
    const state = join(dir, 'train', 'state');
    expect(error).toBe(
      `error: step train failed: cannot write ${join(state, 'epoch-0002', 'tensors.bin')}: no space left on the device (ENOSPC); ` +
        'free space there or pass --artifacts <a folder on a larger disk>, then run the same command again (finished steps and epochs are kept)',
    );
    // run.json still parses and tells what happened; epoch 1 is the last good epoch; no partial file anywhere.
    const m = await manifestOf(dir);
    expect(m.steps.train?.status).toBe('failed');
    expect(m.steps.train?.error).toContain('ENOSPC');
    expect((await json<{ epoch: number }>(join(state, 'latest.json'))).epoch).toBe(1);
    const files = [...(await snapshot(disk))].filter(([, h]) => h !== 'dir').map(([p]) => p);
    expect(files.filter((p) => p.endsWith('.tmp') || p.includes('epoch-0002/'))).toEqual([]);

    remount(disk, 'size=256m');
    const again = await runPipelineCli(args(id, TO_TRAIN, disk));
    expectOk(again);
    expect(again.stdout).toContain('train: resuming after epoch 1');
    await expectSameTrainingAsBaseline(dir);
  });
});

describe('hostile strings', () => {
  it('run ids with /, .. or HTML are refused (exit 2) and nothing is written anywhere around the artifacts folder', async () => {
    const around = join(root, 'around');
    const under = join(around, 'artifacts');
    await mkdir(under, { recursive: true });
    const before = await snapshot(around);
    const ids = ['../escape', '../../../tmp/escape', 'a/b', '/abs', '..', 'x..y', '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'];
    const results = await Promise.all(ids.map((id) => runPipelineCli(args(id, [], under))));
    results.forEach((r, i) => {
      expect(expectError(r, 2), ids[i]).toBe(
        `error: bad run id ${JSON.stringify(ids[i])}: use 1-100 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without ".."`,
      );
    });
    expect(await snapshot(around)).toEqual(before);
    for (const outside of ['escape', 'tmp']) expect(existsSync(join(root, outside))).toBe(false);
  });

  it('user text that reaches report.html (--data-dir, a failed step\'s error naming it) shows as text, never as markup', async () => {
    // The run id is restricted and class names are the project's: what a user can put in the
    // report is a path (--data-dir or FASHION_MNIST_DIR, shown with the run's parameters) and
    // the error of a failed step, which names that path.
    const under = join(root, 'hostile');
    const id = 'hostile';
    await cp(join(artifacts, 'data'), join(under, 'data'), { recursive: true });
    const dir = await copyRun(id, under);
    const script = '<script>alert(1)</script>';
    const img = '"><img src=x onerror=alert(1)>';
    const dataDir = join(root, img, script); // a folder "<script>alert(1)<" holding a folder "script>"
    await mkdir(dataDir, { recursive: true });
    const name = 't10k-labels-idx1-ubyte.gz';
    await writeFile(join(dataDir, name), 'not the dataset');
    await rm(join(under, 'data', 'fashion-mnist', name));
    for (const f of ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz']) {
      await symlink(join(SYSTEM_DATASET, f), join(dataDir, f));
    }
    const env = { CNN_LENS_DEBIAN_DIR: join(root, 'no-debian') };
    const failed = await runPipelineCli(args(id, ['--only', 'download', '--data-dir', dataDir], under), env);
    expect(expectError(failed, 1)).toContain(`no source gave a verified copy of ${name}`);
    expect((await manifestOf(dir)).steps.download?.error).toContain(`--data-dir ${dataDir}`);

    const r = await runPipelineCli(args(id, ['--only', 'report', '--force', '--data-dir', dataDir], under), env);
    expectOk(r);
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<[^>]*\sonerror/i);
    // It did reach the report, escaped: in the parameters and in the download step's error.
    const escaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/=/g, '&#x3D;');
    expect(html.split(escaped(dataDir)).length - 1).toBeGreaterThanOrEqual(2);
    const [view] = await viewPage(join(dir, 'report.html'), [{ width: 1280 }]);
    expect(view.scripts).toBe(0);
    expect(view.injected).toBe(0);
    expect(view.errors).toEqual([]);
    expect(view.text).toContain(dataDir);
    expect(basename(dataDir)).toBe('script>');
  });
});
