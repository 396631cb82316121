/** The import direction of pipeline/ and steps/ (the layers are listed in test/helpers/layers.ts). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers, formatViolation, type Violation } from './helpers/layers.js';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The assertion message: every violation on its own line, file first. */
const listing = (vs: Violation[]): string => `${vs.length} wrong-way import(s):\n${vs.map(formatViolation).join('\n')}`;

it("the project's imports follow the layers", () => {
  const violations = checkLayers(PROJECT_ROOT);
  expect(violations, listing(violations)).toEqual([]);
});

describe('checkLayers on a fixture tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'layering-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  /** The violations as `file:line -> target`, the part a reader acts on. */
  const found = (): string[] => checkLayers(root).map((v) => `${v.file}:${v.line} -> ${v.target}`);

  it('passes a tree whose imports go the right way, and ignores comments and strings', () => {
    write('pipeline/core/a.ts', [
      `import { readFileSync } from 'node:fs';`,
      `import type { B } from './b.js';`,
      `export const a = 1;`,
      // Not code: a commented-out import, and import-shaped text inside strings and a template.
      `// import { c } from '../catalog/b.js';`,
      `/* export * from '../tfjs/t.js'; */`,
      `export const s = "import x from '../catalog/b.js'";`,
      "export const t = `import('../ml/x.js') new URL('../render/w.ts', import.meta.url)`;",
    ].join('\n'));
    write('pipeline/core/b.ts', `export type B = number;\n`);
    write('pipeline/tfjs/t.ts', `import '../core/a.js';\nexport const t = 1;\n`);
    write('pipeline/catalog/b.ts', `import { a } from '../core/a.js';\nexport * from '../tfjs/t.js';\n`);
    write('pipeline/data/d.ts', `import { b } from '../catalog/b.js';\n`);
    write('pipeline/ml/x.ts', `export const w = new URL('./worker.ts', import.meta.url);\n`);
    write('pipeline/ml/worker.ts', `import '../tfjs/t.js';\n`);
    write('pipeline/render/w.ts', `import { t } from '../tfjs/t.js';\nimport { inner } from './figures/f.js';\n`);
    write('pipeline/render/figures/f.ts', `import '../w.js';\nexport const inner = 1;\n`);
    write('pipeline/diff/c.ts', `const m = await import('../ml/x.js');\n`);
    write('steps/s.ts', `import { d } from '../pipeline/data/d.js';\nimport type { B } from '../pipeline/core/b.js';\n`);
    write('steps/s/inner.ts', `import '../s.js';\n`);
    write('pipeline/main.ts', `import '../steps/s.js';\nimport '../pipeline/diff/c.js';\nimport './cli.js';\n`);
    write('pipeline/cli.ts', `export {};\n`);
    const violations = checkLayers(root);
    expect(violations, listing(violations)).toEqual([]);
  });

  it('reports each wrong-way import with its file, line and target', () => {
    write('pipeline/core/reverse.ts', `import { b } from '../catalog/b.js';\n`);
    write('pipeline/data/sibling.ts', `// data and render are siblings\nimport type { W } from '../render/w.js';\n`);
    write('pipeline/core/dynamic.ts', `export async function load() {\n  return import('../ml/x.js');\n}\n`);
    write('pipeline/catalog/worker-url.ts', `export const u = new URL('../render/w.ts', import.meta.url);\n`);
    write('pipeline/foo/x.ts', `export const x = 1;\n`);

    const violations = checkLayers(root);
    expect(found().sort(), listing(violations)).toEqual([
      'pipeline/catalog/worker-url.ts:1 -> pipeline/render/w.ts',
      'pipeline/core/dynamic.ts:2 -> pipeline/ml/x.ts',
      'pipeline/core/reverse.ts:1 -> pipeline/catalog/b.ts',
      'pipeline/data/sibling.ts:2 -> pipeline/render/w.ts',
      'pipeline/foo/x.ts:0 -> ',
    ]);
    expect(violations.map(formatViolation)).toEqual(
      expect.arrayContaining([
        'pipeline/core/reverse.ts:1 imports pipeline/catalog/b.ts: core (rank 0) may not import catalog (rank 2)',
        'pipeline/data/sibling.ts:2 imports pipeline/render/w.ts: data (rank 3) may not import its sibling render (rank 3)',
        'pipeline/core/dynamic.ts:2 imports pipeline/ml/x.ts: core (rank 0) may not import ml (rank 3)',
        'pipeline/catalog/worker-url.ts:1 imports pipeline/render/w.ts: catalog (rank 2) may not import render (rank 3)',
        "pipeline/foo/x.ts is in no layer: add its folder to test/helpers/layers.ts and the README's Layout",
      ]),
    );
    expect(violations.find((v) => v.file === 'pipeline/core/dynamic.ts')?.specifier).toBe('../ml/x.js');
  });
});
