import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { lockRun } from '../pipeline/core/lock.js';
import { consoleLogger } from '../pipeline/core/log.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import { PROFILE_DEFAULTS, type Params } from '../pipeline/core/params.js';
import { runPipeline, StepFailedError } from '../pipeline/core/runner.js';
import type { RunFolder, Step } from '../pipeline/core/step.js';
import { writeFileSafe } from '../pipeline/core/files.js';
import { FileArtifact, FolderArtifact } from '../pipeline/catalog/artifacts.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { tempDir } from './helpers.js';

const params: Params = { profile: 'quick', ...PROFILE_DEFAULTS.quick, backend: 'cpu', lang: 'en' };

/**
 * A run folder for the fixture steps: a RunStore's paths, plus the folder a fixture step writes
 * (its staging folder while the runner runs it), which RunStore hands out only through the real
 * steps' artifacts.
 */
class FixtureRun implements RunFolder<FixtureRun> {
  constructor(
    readonly store: RunStore,
    private readonly staging = new Map<string, string>(),
  ) {}
  get runId(): string {
    return this.store.runId;
  }
  get runDir(): string {
    return this.store.runDir;
  }
  get runJson(): string {
    return this.store.runJson;
  }
  get scratchDirs(): readonly string[] {
    return this.store.scratchDirs;
  }
  finalStepDir(step: string): string {
    return this.store.finalStepDir(step);
  }
  withStaging(step: string, dir: string): FixtureRun {
    return new FixtureRun(this.store, new Map(this.staging).set(step, dir));
  }
  /** The folder `step` writes: its staging folder in a staging view, else its final folder. */
  stepDir(step: string): string {
    return this.staging.get(step) ?? this.finalStepDir(step);
  }
}

/**
 * Fixture steps: each writes one file whose content depends on its param and on what the previous
 * step wrote, so that re-running and skipping can be checked on disk.
 */
function fixtureSteps(calls: string[], failing?: string): Step<FixtureRun, Record<string, FileArtifact>, { dir: FolderArtifact }>[] {
  const names = ['download', 'train', 'checkpoint'];
  return names.map((name, i) => ({
    name,
    module: import.meta.url,
    params: (p: Params) => (name === 'train' ? { epochs: p.epochs } : {}),
    inputs: (s: FixtureRun): Record<string, FileArtifact> =>
      i === 0 ? {} : { prev: new FileArtifact(join(s.finalStepDir(names[i - 1]), 'out.txt')) },
    outputs: (s: FixtureRun) => ({ dir: new FolderArtifact(s.stepDir(name)) }),
    async run(ctx) {
      calls.push(name);
      const prev = ctx.inputs.prev ? readFileSync(ctx.inputs.prev.path, 'utf8') : '';
      await writeFileSafe(join(ctx.outputs.dir.dir, 'out.txt'), `${name}(${prev}${name === 'train' ? ctx.params.epochs : ''})`);
      if (name === failing) throw new Error(`${name} broke on purpose`);
    },
  }));
}

async function run(store: RunStore, calls: string[], opts: { p?: Params; selected?: string[]; force?: boolean; failing?: string } = {}) {
  return runPipeline({
    steps: fixtureSteps(calls, opts.failing),
    selected: opts.selected ?? ['download', 'train', 'checkpoint'],
    params: opts.p ?? params,
    store: new FixtureRun(store),
    force: opts.force ?? false,
    log: consoleLogger({ quiet: true }),
    backend: { name: 'cpu', reason: 'test' },
    backendCode: [],
    backendPackages: [],
    startBackend: async () => {},
  });
}

const manifestOf = (store: RunStore) => JSON.parse(readFileSync(store.runJson, 'utf8')) as RunManifest;

describe('runner', () => {
  it('runs steps in order, records them, and skips them when nothing changed', async () => {
    const store = new RunStore(tempDir(), 'r1');
    const calls: string[] = [];
    expect(await run(store, calls)).toEqual({ ran: ['download', 'train', 'checkpoint'], skipped: [] });
    expect(calls).toEqual(['download', 'train', 'checkpoint']);
    expect(readFileSync(join(store.finalStepDir('checkpoint'), 'out.txt'), 'utf8')).toBe('checkpoint(train(download()3))');
    const m = manifestOf(store);
    expect(m.run_id).toBe('r1');
    expect(m.backend).toBe('cpu');
    expect(m.params.epochs).toBe(3);
    expect(m.git_commit).toMatch(/^([0-9a-f]{40}(-dirty)?|unknown)$/);
    expect(m.versions['@tensorflow/tfjs']).toBe('4.22.0');
    expect(m.versions.vega).toMatch(/^\d+\.\d+\.\d+$/);
    for (const s of ['download', 'train', 'checkpoint'] as const) {
      expect(m.steps[s]?.status).toBe('ok');
      expect(m.steps[s]?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(typeof m.steps[s]?.seconds).toBe('number');
    }
    calls.length = 0;
    expect(await run(store, calls)).toEqual({ ran: [], skipped: ['download', 'train', 'checkpoint'] });
    expect(calls).toEqual([]);
  });

  it('re-runs a step whose params changed, and what reads its output', async () => {
    const store = new RunStore(tempDir(), 'r2');
    const calls: string[] = [];
    await run(store, calls);
    calls.length = 0;
    await run(store, calls, { p: { ...params, epochs: 5 } });
    expect(calls).toEqual(['train', 'checkpoint']);
    expect(readFileSync(join(store.finalStepDir('checkpoint'), 'out.txt'), 'utf8')).toBe('checkpoint(train(download()5))');
    // A param no step uses changes nothing.
    calls.length = 0;
    await run(store, calls, { p: { ...params, epochs: 5, lang: 'ko' } });
    expect(calls).toEqual([]);
  });

  it('re-runs a step whose output was changed or deleted', async () => {
    const store = new RunStore(tempDir(), 'r3');
    const calls: string[] = [];
    await run(store, calls);
    calls.length = 0;
    writeFileSync(join(store.finalStepDir('checkpoint'), 'out.txt'), 'tampered');
    await run(store, calls);
    expect(calls).toEqual(['checkpoint']);
    calls.length = 0;
    rmSync(store.finalStepDir('train'), { recursive: true });
    await run(store, calls);
    // checkpoint's input is the same bytes again, so it stays up to date.
    expect(calls).toEqual(['train']);
  });

  it('honours the selection and --force', async () => {
    const store = new RunStore(tempDir(), 'r4');
    const calls: string[] = [];
    await run(store, calls, { selected: ['download', 'train'] });
    expect(calls).toEqual(['download', 'train']);
    expect(existsSync(store.finalStepDir('checkpoint'))).toBe(false);
    calls.length = 0;
    await run(store, calls, { selected: ['train'], force: true });
    expect(calls).toEqual(['train']);
  });

  it('refuses a step whose input is missing, naming it', async () => {
    const store = new RunStore(tempDir(), 'r5');
    const err = await run(store, [], { selected: ['checkpoint'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(/step checkpoint needs .*train\/out\.txt, which is missing: run the earlier steps first/);
  });

  it('a failing step keeps its last good output, leaves no staging folder and records the failure', async () => {
    const store = new RunStore(tempDir(), 'r6');
    const calls: string[] = [];
    await run(store, calls);
    const err = await run(store, calls, { p: { ...params, epochs: 9 }, failing: 'train' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as Error).message).toBe('step train failed: train broke on purpose');
    expect(readFileSync(join(store.finalStepDir('train'), 'out.txt'), 'utf8')).toBe('train(download()3)');
    expect(existsSync(`${store.finalStepDir('train')}.staging`)).toBe(false);
    const m = manifestOf(store);
    expect(m.steps.train).toMatchObject({ status: 'failed', error: 'train broke on purpose' });
    // The next run does not trust the failed step.
    calls.length = 0;
    await run(store, calls, { p: { ...params, epochs: 9 } });
    expect(calls).toEqual(['train', 'checkpoint']);
  });

  it('refuses a second writer, naming the holder, and takes over the lock of a dead process', async () => {
    const store = new RunStore(tempDir(), 'r7');
    const release = await lockRun(store.runDir, store.runId);
    const err = await run(store, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toContain(`run r7 is being written by process ${process.pid}`);
    await release();

    // A lock whose holder died without cleaning up (kill -9).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    mkdirSync(join(store.runDir, '.lock'), { recursive: true });
    writeFileSync(join(store.runDir, '.lock', 'owner.json'), JSON.stringify({ pid: Number(dead.stdout), host: (await import('node:os')).hostname(), started: 'then', command: 'x', id: 'dead' }));
    const calls: string[] = [];
    await run(store, calls);
    expect(calls).toEqual(['download', 'train', 'checkpoint']);
    expect(existsSync(join(store.runDir, '.lock'))).toBe(false);
  });

  it('refuses a garbage run.json with a clear message', async () => {
    const store = new RunStore(tempDir(), 'r8');
    mkdirSync(store.runDir, { recursive: true });
    writeFileSync(store.runJson, '{"run_id": "r8", "steps": {');
    const err = await run(store, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(/run\.json is corrupt\b.*delete it/);
    expect(readFileSync(store.runJson, 'utf8')).toBe('{"run_id": "r8", "steps": {');
  });
});
