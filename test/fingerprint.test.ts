/**
 * Code is part of every step's fingerprint. In a copy of the project (its own pipeline/, steps/,
 * templates/; node_modules linked), a tiny real run, then one edit at a time and the same command
 * again: a figure spec re-runs figures and report only; a log line that train imports replays the
 * saved epochs without training; a wasm kernel starts training over, keeping the old epochs aside.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { STEP_NAMES } from '../steps/index.js';
import { tempDir } from './helpers.js';
import { linkDataset } from './helpers/fixture-run.js';

const TINY = ['--profile', 'quick', '--train-size', '256', '--val-size', '64', '--epochs', '1', '--backend', 'wasm', '--run', 'tiny'];
const STEPS = STEP_NAMES;

let copy: string;
let store: RunStore;

function pipeline(): { code: number | null; out: string } {
  const r = spawnSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx'), [join(copy, 'pipeline', 'main.ts'), ...TINY, '--artifacts', store.artifacts], {
    cwd: copy,
    env: { ...process.env, CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1', CNN_LENS_FAULT: '' },
    encoding: 'utf8',
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The steps that ran and the ones skipped, from the log. */
function steps(out: string): { ran: string[]; skipped: string[] } {
  return {
    ran: STEPS.filter((s) => new RegExp(`^${s}: running\\b`, 'm').test(out)),
    skipped: STEPS.filter((s) => out.includes(`${s}: up to date, skipped`)),
  };
}

async function edit(file: string, from: string, to: string): Promise<void> {
  const path = join(copy, file);
  const text = await readFile(path, 'utf8');
  expect(text, `${file} holds ${from}`).toContain(from);
  await writeFile(path, text.replace(from, to));
}

const sha = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe('code in the fingerprint', () => {
  beforeAll(async () => {
    copy = tempDir('cnn-lens-copy-');
    for (const part of ['pipeline', 'steps', 'templates', 'package.json', 'tsconfig.json']) await cp(join(PROJECT_ROOT, part), join(copy, part), { recursive: true });
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
    store = new RunStore(join(copy, 'artifacts'), 'tiny');
    await linkDataset(store);
    const first = pipeline();
    expect(first.code, first.out).toBe(0);
    expect(steps(first.out).ran).toEqual(STEPS);
    const again = pipeline();
    expect(steps(again.out).skipped, again.out).toEqual(STEPS);
  });

  it('editing a figure spec re-runs figures and report, not train', async () => {
    const weights = await sha(join(store.finalStepDir('checkpoint'), 'weights.bin'));
    // The Glorot limit's rules in the weight histograms: a colour no figure used before.
    const histograms = async () => (await store.figures.readSvgs()).svgs.get('weight-histograms') ?? '';
    expect(await histograms()).toContain('#d62728');
    expect(await readFile(store.reportHtml.path, 'utf8')).not.toContain('#123457');
    await edit('pipeline/render/figures/histograms.ts', "ruleColor: '#d62728'", "ruleColor: '#123457'");
    const r = pipeline();
    expect(r.code, r.out).toBe(0);
    expect(steps(r.out)).toEqual({ ran: ['figures', 'report'], skipped: STEPS.filter((n) => n !== 'figures' && n !== 'report') });
    expect(r.out).toMatch(/^figures: running \(code changed\)$/m);
    expect(await histograms()).toContain('#123457');
    expect(await readFile(store.reportHtml.path, 'utf8')).toContain('#123457');
    expect(await sha(join(store.finalStepDir('checkpoint'), 'weights.bin'))).toBe(weights);
  });

  it('editing a log line that train imports replays the saved epochs without training', async () => {
    const best = await sha(join(store.finalStepDir('train'), 'best', 'weights.bin'));
    await edit('pipeline/core/log.ts', 'warning: ${message}', 'warn: ${message}');
    const r = pipeline();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^train: running \(code changed\)$/m);
    expect(r.out).toContain('train: all 1 epochs are saved for these params, data, backend and training code: replaying them, no training');
    expect(r.out).not.toMatch(/^epoch 1\/1:/m);
    expect(await sha(join(store.finalStepDir('train'), 'best', 'weights.bin'))).toBe(best);
  });

  it('editing a wasm kernel starts training over and keeps the old epochs aside', async () => {
    await edit('pipeline/tfjs/wasm-kernels/max-pool-grad.ts', "\nimport { tf }", "\n// an edit of the training math\nimport { tf }");
    const r = pipeline();
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/saved epochs 1-1 in .*state were trained with the training code \(pipeline\/tfjs\/wasm-kernels\/max-pool-grad\.ts\): starting over; they are kept in .*state\.previous/);
    expect(r.out).toMatch(/^epoch 1\/1:/m);
    expect((await stat(join(store.trainState.dir + '.previous', 'latest.json'))).isFile()).toBe(true);
    // The same math gives the same weights: only the code's bytes changed, not what it computes.
    const history = await store.history.read();
    expect(history.rows).toHaveLength(1);
  });
});
