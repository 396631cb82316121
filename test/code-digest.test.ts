import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeDigest } from '../pipeline/core/code-digest.js';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';

/**
 * a -> b -> c; a also imports d dynamically, names the worker w (which imports e) with
 * `new URL(..., import.meta.url)`, and imports types only from types.ts. f is unrelated.
 * The comment and the folder URL in a must not be followed.
 */
const TREE: Record<string, string> = {
  'src/a.ts': [
    "import { b } from './b.js';",
    "import type { Shape } from './types.js';",
    "// import { gone } from './gone.js' (a comment: not followed)",
    'export async function a(shape: Shape): Promise<number> {',
    "  const { d } = await import('./d.js');",
    "  const worker = new URL('./w.ts', import.meta.url);",
    "  const here = new URL('..', import.meta.url); // a folder, not a worker",
    '  return b() + d + shape.n + worker.href.length + here.href.length;',
    '}',
    '',
  ].join('\n'),
  'src/b.ts': "import { c } from './c.js';\nexport const b = (): number => c;\n",
  'src/c.ts': 'export const c = 1;\n',
  'src/d.ts': 'export const d = 2;\n',
  'src/w.ts': "import { e } from './e.js';\nconsole.log(e);\n",
  'src/e.ts': 'export const e = 3;\n',
  'src/f.ts': 'export const f = 4;\n',
  'src/types.ts': 'export interface Shape { n: number }\n',
  'templates/page.hbs': '<p>{{x}}</p>\n',
};

const REACHED = ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/d.ts', 'src/e.ts', 'src/types.ts', 'src/w.ts'];

let base: string;
let root: string;

async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

const digestOf = async (...extra: string[]) => codeDigest([join(root, 'src/a.ts')], extra.map((p) => join(root, p)), root);

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'code-digest-'));
  root = join(base, 'project');
  await writeTree(root, TREE);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('codeDigest on a fixture tree', () => {
  it('follows static, type, dynamic and worker imports, and nothing else', async () => {
    const { digest, files } = await digestOf();
    expect(Object.keys(files)).toEqual(REACHED);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    for (const hash of Object.values(files)) expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes when a reached module changes, even by a comment, and not for an unrelated one', async () => {
    const before = (await digestOf()).digest;

    await writeFile(join(root, 'src/f.ts'), 'export const f = 5;\n');
    expect((await digestOf()).digest).toBe(before);

    await writeFile(join(root, 'src/c.ts'), 'export const c = 10;\n');
    const edited = (await digestOf()).digest;
    expect(edited).not.toBe(before);

    await writeFile(join(root, 'src/c.ts'), '// a comment\nexport const c = 10;\n');
    expect((await digestOf()).digest).not.toBe(edited);

    // The same bytes again give the same digest: nothing else (times, order) enters it.
    await writeFile(join(root, 'src/c.ts'), TREE['src/c.ts']!);
    expect((await digestOf()).digest).toBe(before);
  });

  it('follows an import added by an edit, and hashes the worker entry itself', async () => {
    const before = await digestOf();
    await writeFile(join(root, 'src/w.ts'), "import { e } from './e.js';\nimport { f } from './f.js';\nconsole.log(e, f);\n");
    const after = await digestOf();
    expect(Object.keys(after.files)).toContain('src/f.ts');
    expect(after.digest).not.toBe(before.digest);
    await writeFile(join(root, 'src/w.ts'), TREE['src/w.ts']!);
    expect(await digestOf()).toEqual(before);
  });

  it('hashes the extra files as they are', async () => {
    const plain = await digestOf();
    const withTemplate = await digestOf('templates/page.hbs');
    expect(Object.keys(withTemplate.files)).toEqual([...REACHED, 'templates/page.hbs']);
    expect(withTemplate.digest).not.toBe(plain.digest);

    await writeFile(join(root, 'templates/page.hbs'), '<p>{{y}}</p>\n');
    expect((await digestOf('templates/page.hbs')).digest).not.toBe(withTemplate.digest);
    expect((await digestOf()).digest).toBe(plain.digest);
    await writeFile(join(root, 'templates/page.hbs'), TREE['templates/page.hbs']!);
  });

  it('does not depend on the order or the form of the entries', async () => {
    const a = join(root, 'src/a.ts');
    const f = join(root, 'src/f.ts');
    const one = await codeDigest([a, f], [], root);
    expect(await codeDigest([f, pathToFileURL(a).href], [], root)).toEqual(one);
    // Asked for together, as the runner may do: the same answers as one by one.
    const [x, y] = await Promise.all([codeDigest([a], [], root), codeDigest([f], [], root)]);
    expect(x).toEqual(await digestOf());
    expect(Object.keys(y.files)).toEqual(['src/f.ts']);
  });

  it('gives the same digest for the tree copied to another folder', async () => {
    const copy = join(base, 'elsewhere', 'moved');
    await cp(root, copy, { recursive: true });
    const here = await digestOf('templates/page.hbs');
    const there = await codeDigest([join(copy, 'src/a.ts')], [join(copy, 'templates/page.hbs')], copy);
    expect(there).toEqual(here);
  });

  it('throws naming the importing file and the specifier of an import that does not resolve', async () => {
    await writeFile(join(root, 'src/g.ts'), "import { c } from './c.js';\nimport { nope } from './missing.js';\nexport const g = c + nope;\n");
    await expect(codeDigest([join(root, 'src/g.ts')], [], root)).rejects.toThrow(/src\/g\.ts:2 imports "\.\/missing\.js"/);

    // The same once the module was known: an import that vanishes since the last call.
    await writeFile(join(root, 'src/h.ts'), "import { c } from './c.js';\nexport const h = c;\n");
    await codeDigest([join(root, 'src/h.ts')], [], root);
    await rm(join(root, 'src/c.ts'));
    try {
      await expect(codeDigest([join(root, 'src/h.ts')], [], root)).rejects.toThrow(/src\/h\.ts:1 imports "\.\/c\.js"/);
    } finally {
      await writeFile(join(root, 'src/c.ts'), TREE['src/c.ts']!);
    }
  });

  it('follows an import of types to a declaration file', async () => {
    await writeFile(join(root, 'src/ambient.d.ts'), 'export interface Ambient { n: number }\n');
    await writeFile(join(root, 'src/k.ts'), "import type { Ambient } from './ambient.js';\nexport const k = (x: Ambient): number => x.n;\n");
    expect(Object.keys((await codeDigest([join(root, 'src/k.ts')], [], root)).files)).toEqual(['src/ambient.d.ts', 'src/k.ts']);
  });

  it('throws naming an entry or extra file that does not exist', async () => {
    await expect(codeDigest([join(root, 'src/none.ts')], [], root)).rejects.toThrow(/entry .*src\/none\.ts does not exist/);
    await expect(digestOf('templates/none.hbs')).rejects.toThrow(/extra file .*templates\/none\.hbs does not exist/);
  });
});

describe('codeDigest on the project', () => {
  const step = (name: string) => join(PROJECT_ROOT, 'steps', name);

  it("includes what a step's code reaches, and not another step's code", async () => {
    const figures = Object.keys((await codeDigest([step('figures.ts')])).files);
    expect(figures).toContain('steps/figures.ts');
    expect(figures).toContain('pipeline/render/figures/kernels.ts');
    expect(figures).not.toContain('steps/train.ts');
    expect(figures).not.toContain('pipeline/ml/trainer.ts');
    // Not asserted: that figures' digest leaves out pipeline/tfjs/wasm-kernels/*. In this tree it
    // does not: steps/figures.ts -> catalog/store.ts (defineStep) -> catalog/artifacts.ts ->
    // catalog/model-io.ts -> tfjs/tf.ts -> tfjs/wasm-kernels.ts, all value imports that tsx loads
    // too, so an edit of a wasm kernel re-runs every step until that chain is cut.

    // train -> ... -> pipeline/tfjs/tf.ts -> wasm-kernels.ts -> wasm-kernels/conv2d-backprop-filter.ts
    const train = Object.keys((await codeDigest([step('train.ts')])).files);
    expect(train).toContain('pipeline/tfjs/tf.ts');
    expect(train).toContain('pipeline/tfjs/wasm-kernels/conv2d-backprop-filter.ts');
    expect(train).not.toContain('pipeline/render/figures/kernels.ts');
  });

  it('digests every step the same way the second time, from its cache of parsed modules', async () => {
    const steps = (await readdir(join(PROJECT_ROOT, 'steps'))).filter((f) => f.endsWith('.ts') && f !== 'index.ts').map(step);
    const time = async () => {
      const start = performance.now();
      const digests: string[] = [];
      for (const entry of steps) digests.push((await codeDigest([entry])).digest);
      return { ms: performance.now() - start, digests };
    };
    const first = await time(); // warm for figures and train, from the test above
    const second = await time();
    // Logged, not asserted: a wall-clock limit fails on a busy CI machine (issue 11, item 0).
    console.log(`code digests of ${steps.length} steps: ${first.ms.toFixed(0)} ms, then ${second.ms.toFixed(0)} ms`);
    expect(second.digests).toEqual(first.digests);
    expect(new Set(first.digests).size).toBe(steps.length);
  });
});
