/**
 * Saved epochs are never lost silently (issue 11, item 5), end to end with the real CLI: a run
 * killed after epoch 2 whose train/state/latest.json is then cut short is run again with the same
 * command. It must say that latest.json is damaged, find the epochs by scanning their folders,
 * resume from epoch 2 (training only epoch 3), delete no epoch folder that verifies, and end with
 * the weights of an uninterrupted run, bit for bit. (The scan itself: test/train-state.test.ts.)
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { History } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { tempDir } from './helpers.js';
import { linkDataset } from './helpers/fixture-run.js';
import { runPipelineCli, snapshot, type Finished } from './helpers/pipeline-process.js';

/** Three short epochs on the wasm backend; training is all that matters here. */
const SMALL = ['--profile', 'quick', '--train-size', '256', '--val-size', '64', '--epochs', '3', '--backend', 'wasm', '--to', 'train'];

const root = tempDir('cnn-lens-resume-');
const artifacts = join(root, 'artifacts');
const args = (id: string) => [...SMALL, '--artifacts', artifacts, '--run', id];
const trainDir = (id: string) => join(artifacts, 'runs', id, 'train');

const json = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;
const epochsIn = (out: string) => [...out.matchAll(/^epoch (\d+)\/3: /gm)].map((m) => Number(m[1]));
const epochFolders = async (state: string) => (await readdir(state)).filter((f) => /^epoch-\d+$/.test(f)).sort();

function expectOk(r: Finished): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
}

/** Files that record seconds and samples/s beside the numbers: compared without those. */
const TIMED = /(^|\/)(history|tensors)\.json$/;
function withoutTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimes);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'seconds' && k !== 'samples_per_s').map(([k, v]) => [k, withoutTimes(v)]));
  }
  return value;
}

let whole: Map<string, string>;

beforeAll(async () => {
  await linkDataset(new RunStore(artifacts, 'whole'));
  const r = await runPipelineCli(args('whole'));
  expectOk(r);
  expect(epochsIn(r.stdout)).toEqual([1, 2, 3]);
  whole = await snapshot(trainDir('whole'));
  // Not vacuous: the comparison below covers the best model's weights and every kept epoch's state.
  expect(whole.get('best/weights.bin')).toBeDefined();
  expect([...whole.keys()].filter((p) => p.endsWith('/tensors.bin')).length).toBeGreaterThanOrEqual(2);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a damaged latest.json after a kill', () => {
  it('says so, resumes from the newest epoch that verifies, deletes nothing that verifies and ends bit-identical', async () => {
    const id = 'damaged';
    const state = join(trainDir(id), 'state');
    const latest = join(state, 'latest.json');

    // Killed while epoch 3's state is written: epochs 1 and 2 are finished, saved and pointed at.
    const killed = await runPipelineCli(args(id), { CNN_LENS_FAULT: 'write:tensors.bin@3' });
    expect(killed.signal, `${killed.stdout}\n${killed.stderr}`).toBe('SIGKILL');
    expect(epochsIn(killed.stdout)).toEqual([1, 2]);
    expect((await json<{ epoch: number }>(latest)).epoch).toBe(2);
    const saved = await snapshot(state);
    const verified = ['epoch-0001', 'epoch-0002'];
    for (const e of verified) expect(saved.get(`${e}/tensors.bin`), e).toBeDefined();

    await writeFile(latest, '{"epoch": ');
    const again = await runPipelineCli(args(id));
    expectOk(again);
    // It names the damaged file and says what it does instead: no silent start from scratch.
    const warning = again.stderr.split('\n').find((l) => l.includes(latest));
    expect(warning, again.stderr).toMatch(/looking for the newest saved epoch that verifies instead$/);
    expect(again.stderr).toContain('resumed from epoch 2, the newest epoch that loads');
    expect(again.stdout).toContain('train: resuming after epoch 2');
    expect(epochsIn(again.stdout)).toEqual([3]);
    expect(existsSync(`${state}.previous`)).toBe(false);

    // The verified epochs are kept as the uninterrupted run keeps them, their bytes untouched.
    const folders = await epochFolders(state);
    expect(folders).toEqual(await epochFolders(join(trainDir('whole'), 'state')));
    const after = await snapshot(state);
    for (const e of verified.filter((f) => folders.includes(f))) {
      for (const file of ['tensors.bin', 'tensors.json']) expect(after.get(`${e}/${file}`), `${e}/${file}`).toBe(saved.get(`${e}/${file}`));
    }

    // Bit-identical to the uninterrupted run: the best model and every kept epoch's weights and Adam state.
    const got = await snapshot(trainDir(id));
    expect([...got.keys()]).toEqual([...whole.keys()]);
    const stable = (m: Map<string, string>) => [...m].filter(([p]) => !TIMED.test(p));
    expect(stable(got)).toEqual(stable(whole));
    for (const path of [...whole.keys()].filter((p) => TIMED.test(p))) {
      expect(withoutTimes(await json(join(trainDir(id), path))), path).toEqual(withoutTimes(await json(join(trainDir('whole'), path))));
    }
    expect((await json<History>(join(trainDir(id), 'history.json'))).rows.map((r) => r.epoch)).toEqual([1, 2, 3]);
  });
});
