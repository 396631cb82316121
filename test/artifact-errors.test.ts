/**
 * Every JSON artifact is validated when read. A truncated, empty (`{}`) or foreign JSON file in
 * place of an artifact is bad input (exit 2) whose message names the file and, when the file
 * parses, the offending field, for the pipeline (the step that reads it) and for `npm run diff`.
 * And run.json's schema_version: an older run folder is read, a newer one refused.
 *
 * Through the real CLIs: `{}` in place of every artifact, and all three kinds of damage for
 * metrics.json (each CLI call costs seconds; test/schema.test.ts checks every kind of damage of
 * every artifact against the same reader in-process).
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import { runCli, tempDir } from './helpers.js';

/** The suite's tiny run (test/global-setup.ts) and its options but the run id. */
const TINY = inject('tinyArgs').filter((a, i, all) => a !== '--run' && all[i - 1] !== '--run');
const ENV = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' };

/** Each JSON artifact, the step of the pipeline that reads it, and the field a `{}` lacks first. */
const ARTIFACTS = [
  { file: 'train/history.json', reader: 'checkpoint', field: 'rows', diff: true },
  { file: 'checkpoint/metrics.json', reader: 'figures', field: 'test', diff: true },
  { file: 'weights/stats.json', reader: 'figures', field: 'trained', diff: true },
  { file: 'feature-maps/index.json', reader: 'figures', field: 'samples', diff: true },
  { file: 'figures/index.json', reader: 'report', field: 'figures', diff: false },
];

let artifacts: string;
let pristine: string;
let foreign: string;
let n = 0;

/** A fresh copy of the finished run, under a new id, with `file` replaced by `content`. */
async function damaged(file: string, content: (original: string) => string): Promise<{ id: string; dir: string }> {
  const id = `damaged-${++n}`;
  const dir = join(artifacts, 'runs', id);
  await cp(pristine, dir, { recursive: true });
  const path = join(dir, file);
  await writeFile(path, content(await readFile(path, 'utf8')));
  return { id, dir };
}

const VARIANTS: [string, (original: string) => string][] = [
  ['truncated', (original) => original.slice(0, Math.floor(original.length / 2))],
  ['empty {}', () => '{}\n'],
  ['foreign', () => foreign],
];

describe('bad JSON artifacts', () => {
  beforeAll(async () => {
    pristine = inject('tinyRun');
    artifacts = dirname(dirname(pristine));
    foreign = await readFile(join(PROJECT_ROOT, 'package.json'), 'utf8');
  });

  const cases = (forDiff: boolean) =>
    ARTIFACTS.filter((a) => !forDiff || a.diff).flatMap((a) =>
      VARIANTS.filter(([variant]) => variant === 'empty {}' || a.file === 'checkpoint/metrics.json').map(([variant, content]) => ({ a, variant, content })),
    );

  for (const { a, variant, content } of cases(false)) {
    {
      it(`${a.file} ${variant}: the ${a.reader} step exits 2 naming the file${variant === 'truncated' ? '' : ' and the field'}`, async () => {
        const { id, dir } = await damaged(a.file, content);
        const r = runCli('pipeline/main.ts', [...TINY, '--run', id, '--artifacts', artifacts, '--only', a.reader], ENV);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        expect(r.stderr).toContain(join(dir, a.file));
        if (variant === 'truncated') expect(r.stderr).toContain('is not valid JSON');
        else expect(r.stderr).toMatch(new RegExp(`field ${a.field}: expected .*, got undefined`));
        expect(r.stderr).not.toMatch(/TypeError|Cannot read properties/);
      });
    }
  }

  for (const { a, variant, content } of cases(true)) {
    {
      it(`npm run diff with ${a.file} ${variant} exits 2 naming the file`, async () => {
        const { dir } = await damaged(a.file, content);
        const r = runCli('pipeline/diff-main.ts', [pristine, dir, '--out', join(tempDir(), 'diff')], ENV);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        expect(r.stderr).toContain(join(dir, a.file));
        if (variant !== 'truncated') expect(r.stderr).toMatch(new RegExp(`field ${a.field}: expected .*, got undefined`));
        expect(r.stderr).not.toMatch(/TypeError|Cannot read properties/);
      });
    }
  }

  it('npm run diff reads a run folder of schema version 1 (no schema_version, no parts)', async () => {
    const { dir } = await damaged('run.json', (original) => {
      const m = JSON.parse(original) as { schema_version?: number; pipeline?: unknown; steps: Record<string, { parts?: unknown }> };
      delete m.schema_version;
      delete m.pipeline;
      for (const s of Object.values(m.steps)) delete s.parts;
      return JSON.stringify(m);
    });
    const out = join(tempDir(), 'diff');
    const r = runCli('pipeline/diff-main.ts', [pristine, dir, '--out', out], ENV);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { weights: { identical: boolean } };
    expect(summary.weights.identical).toBe(true);
  });

  it('a run folder of a newer schema version is refused with exit 2 saying what to do', async () => {
    const { id, dir } = await damaged('run.json', (original) => JSON.stringify({ ...JSON.parse(original), schema_version: 99 }));
    const diff = runCli('pipeline/diff-main.ts', [pristine, dir, '--out', join(tempDir(), 'diff')], ENV);
    expect(diff.code).toBe(2);
    expect(diff.stderr).toContain(`${join(dir, 'run.json')} was written by a newer cnn-lens (run.json schema 99, this one reads up to 2)`);
    expect(diff.stderr).toContain('re-run it with this version of cnn-lens');
    const pipeline = runCli('pipeline/main.ts', [...TINY, '--run', id, '--artifacts', artifacts], ENV);
    expect(pipeline.code).toBe(2);
    expect(pipeline.stderr).toContain('was written by a newer cnn-lens');
  });

  it('a run.json that is not a run manifest is refused naming the field', async () => {
    const { dir } = await damaged('run.json', () => foreign);
    const r = runCli('pipeline/diff-main.ts', [pristine, dir, '--out', join(tempDir(), 'diff')], ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, 'run.json')}: field run_id: expected a string, got undefined`));
  });
});
