/**
 * The lock (pipeline/core/lock.ts) between real processes: the CLI, stopped and let go at fault
 * points (CNN_LENS_FAULT, pipeline/core/fault.ts) so that the order of the processes is made by
 * the test, never by timing. A is killed (SIGKILL) right after taking a lock; B and C find A's
 * dead lock; what each may do then is the point of each test.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockWithOwner, type LockOwner } from '../pipeline/core/lock.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import { tempDir } from './helpers.js';
import { pauseAt, runPipelineCli, startPipeline, type Finished } from './helpers/pipeline-process.js';

const root = tempDir('cnn-lens-lock-');
afterAll(() => rm(root, { recursive: true, force: true }));

let made = 0;
/** A fresh artifacts folder; `--only download` is the cheapest command that takes both locks. */
function fresh(): { artifacts: string; args: string[]; runDir: string; cache: string } {
  const artifacts = join(root, `a${++made}`);
  return {
    artifacts,
    args: ['--only', 'download', '--backend', 'wasm', '--artifacts', artifacts, '--run', 'r'],
    runDir: join(artifacts, 'runs', 'r'),
    cache: join(artifacts, 'data', 'fashion-mnist'),
  };
}

const ownerOf = async (dir: string): Promise<LockOwner> => JSON.parse(await readFile(join(dir, '.lock', 'owner.json'), 'utf8')) as LockOwner;
const out = (r: Finished) => `${r.stdout}\n${r.stderr}`;
const errorLines = (r: Finished) => r.stderr.split('\n').filter((l) => l.startsWith('error: '));

/** A takes the run lock and is killed at once: its lock, with its record, stays behind. */
async function deadHolder(args: string[], runDir: string): Promise<LockOwner> {
  const a = await runPipelineCli(args, { CNN_LENS_FAULT: 'lock-held:r' });
  expect(a.signal, out(a)).toBe('SIGKILL');
  const owner = await ownerOf(runDir);
  expect(owner).toMatchObject({ host: hostname() });
  expect(owner.command).toContain('--run r');
  return owner;
}

describe('a dead holder\'s run lock, found by two processes', () => {
  it('B breaks it and takes it; C, which judged it stale before B broke it, is let go only once B holds the lock, and is refused naming B without breaking it', async () => {
    const { args, runDir } = fresh();
    const a = await deadHolder(args, runDir);

    // C finds A's lock and judges it stale (A is dead), then is held there.
    const cStale = pauseAt('lock-stale:r', root);
    const c = startPipeline(args, cStale.env);
    await c.waitFor(cStale.reached);
    expect((await ownerOf(runDir)).id).toBe(a.id);

    // B finds the same dead lock, breaks it and takes it, and is held while holding it.
    const bHeld = pauseAt('lock-held:r', root);
    const b = startPipeline(args, bHeld.env);
    await b.waitFor(bHeld.reached);
    const bOwner = await ownerOf(runDir);
    expect(bOwner.pid).toBe(b.pid);
    expect(bOwner.id).not.toBe(a.id);

    // C goes on: the lock it judged is gone; what is there now is B's, alive.
    await cStale.release();
    const cDone = await c.done;
    expect(cDone.code, out(cDone)).toBe(2);
    expect(errorLines(cDone)).toEqual([
      `error: run r is being written by process ${b.pid} on ${hostname()} (since ${bOwner.started}): wait for it to finish, or use another --run id. If no such process exists, delete ${join(runDir, '.lock')}.`,
    ]);
    expect(cDone.stdout).not.toMatch(/^download: running/m);
    // B's lock is untouched: same record, nothing else left in it or beside it.
    expect(await ownerOf(runDir)).toEqual(bOwner);
    expect(await readdir(join(runDir, '.lock'))).toEqual(['owner.json']);

    await bHeld.release();
    const bDone = await b.done;
    expect(bDone.code, out(bDone)).toBe(0);
    expect(bDone.stdout).toContain(`took over the lock of run r from process ${a.pid} on ${hostname()} (since ${a.started}), which no longer runs`);
    expect(bDone.stdout).toMatch(/^download: done in /m);
    // Released, and no temporary or removed-lock folder left beside it.
    expect((await readdir(runDir)).sort()).toEqual(['run.json']);
  });

  it('two that claim it at once: C wins the claim; B is refused naming C, and A\'s lock is still in place until C removes it', async () => {
    const { args, runDir } = fresh();
    const a = await deadHolder(args, runDir);

    const cBreaking = pauseAt('lock-breaking:r', root);
    const c = startPipeline(args, cBreaking.env);
    await c.waitFor(cBreaking.reached);

    const b = await runPipelineCli(args);
    expect(b.code, out(b)).toBe(2);
    expect(errorLines(b)[0]).toMatch(new RegExp(`^error: run r is being written by process ${c.pid} on ${hostname()} \\(since `));
    expect(b.stdout).not.toMatch(/^download: running/m);
    // B broke nothing: the dead lock is still A's, with C's claim in it.
    expect((await ownerOf(runDir)).id).toBe(a.id);
    expect(await readdir(join(runDir, '.lock'))).toEqual([`break-${a.id}`, 'owner.json']);

    await cBreaking.release();
    const cDone = await c.done;
    expect(cDone.code, out(cDone)).toBe(0);
    expect(cDone.stdout).toContain(`took over the lock of run r from process ${a.pid} on ${hostname()}`);
    expect((await readdir(runDir)).sort()).toEqual(['run.json']);
  });
});

describe('the dataset cache lock lost under its holder', () => {
  const lostMessage = (cache: string, what: string) =>
    `the dataset cache lock ${join(cache, '.lock')} was ${what}: stopped before writing to ${cache} again, so that two writers never mix; run the same command again`;

  async function holderPaused() {
    const f = fresh();
    const held = pauseAt('lock-held:fashion-mnist', root);
    const p = startPipeline(f.args, held.env);
    await p.waitFor(held.reached);
    expect((await ownerOf(f.cache)).pid).toBe(p.pid);
    expect(await readdir(f.cache)).toEqual(['.lock']);
    return { ...f, p, held };
  }

  async function expectStopped(r: Finished, runDir: string, cache: string, what: string): Promise<void> {
    expect(r.code, out(r)).toBe(1);
    const errors = errorLines(r);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(lostMessage(cache, what));
    // Nothing was written to the cache after the loss (the files come after the lock).
    expect((await readdir(cache)).filter((n) => !n.startsWith('.lock'))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as RunManifest;
    expect(manifest.steps.download).toMatchObject({ status: 'failed', error: expect.stringContaining(lostMessage(cache, what)) });
  }

  it('removed: the holder stops with an error at its next write to the cache, and the next run fills it', async () => {
    const { args, runDir, cache, p, held } = await holderPaused();
    await rm(join(cache, '.lock'), { recursive: true });
    await held.release();
    await expectStopped(await p.done, runDir, cache, 'removed');
    expect(existsSync(join(cache, '.lock'))).toBe(false);

    const again = await runPipelineCli(args);
    expect(again.code, out(again)).toBe(0);
    expect((await readdir(cache)).filter((n) => n.endsWith('.gz'))).toHaveLength(4);
  });

  it("taken by another process meanwhile: the holder stops with an error naming it, and leaves that process's lock alone", async () => {
    const { runDir, cache, p, held } = await holderPaused();
    await rm(join(cache, '.lock'), { recursive: true });
    const other = await lockWithOwner(cache, { watchMs: 60_000 });
    try {
      await held.release();
      await expectStopped(await p.done, runDir, cache, `taken by process ${process.pid} on ${hostname()} (since ${other.owner.started})`);
      expect(await ownerOf(cache)).toEqual(other.owner);
      await other.assertHeld();
    } finally {
      await other.release();
    }
    expect(existsSync(join(cache, '.lock'))).toBe(false);
  });
});
