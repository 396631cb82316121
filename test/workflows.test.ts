/**
 * Every workflow file in .github/workflows/ against GitHub's workflow schema, with
 * @action-validator/core (action-validator compiled to wasm: the schema from SchemaStore, plus
 * checks of its own such as `needs` naming a job that exists). It parses the YAML and checks the
 * structure; it does not evaluate `${{ }}` expressions. Copies with planted errors show that it
 * catches what it is here for, naming the problem.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateWorkflow, type ValidationError } from '@action-validator/core';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';

const DIR = join(PROJECT_ROOT, '.github', 'workflows');
const FILES = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

/** Every error, with those nested in a failed oneOf's alternatives, as "path: title (detail)". */
function problems(errors: ValidationError[]): string[] {
  return errors.flatMap((e) => [
    `${'path' in e ? e.path : ''}: ${e.title}${e.detail ? ` (${e.detail})` : ''}`,
    ...('states' in e && e.states ? e.states.flatMap((s) => problems(s.errors)) : []),
  ]);
}

const check = (src: string): string[] => problems(validateWorkflow(src).errors);

/** The source with `from` replaced once; the test fails if `from` is not there. */
function planted(src: string, from: string | RegExp, to: string): string {
  const out = src.replace(from, to);
  expect(out, `planting ${String(from)}`).not.toBe(src);
  return out;
}

describe('the workflow files', () => {
  it('there are the two this project ships', () => {
    expect(FILES).toEqual(expect.arrayContaining(['pipeline.yml', 'sweep.yml']));
  });

  it.each(FILES)('%s: every file a cache key hashes exists (a missing one hashes to nothing, silently)', (file) => {
    const src = readFileSync(join(DIR, file), 'utf8');
    const paths = [...src.matchAll(/hashFiles\('([^']+)'\)/g)].map((m) => m[1]).filter((p) => !p.includes('*') && !p.startsWith('artifacts/'));
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) expect(existsSync(join(PROJECT_ROOT, path)), `${file}: hashFiles('${path}')`).toBe(true);
  });

  it.each(FILES)('%s is a valid workflow', (file) => {
    expect(check(readFileSync(join(DIR, file), 'utf8'))).toEqual([]);
  });

  describe('a copy of sweep.yml with a planted error fails, naming it', () => {
    const src = readFileSync(join(DIR, 'sweep.yml'), 'utf8');

    it('a job without runs-on', () => {
      const found = check(planted(src, /(\n {2}gather:\n(?: {4}.*\n)*?) {4}runs-on: ubuntu-latest\n/, '$1'));
      expect(found).toContain('/jobs/gather/runs-on: This property is required');
    });

    it('`on:` misspelt', () => {
      const found = check(planted(src, /^on:$/m, 'onn:'));
      expect(found).toContain(": Property conditions are not met (Additional property 'onn' is not allowed)");
      expect(found).toContain('/on: This property is required');
    });

    it('needs naming a job that does not exist', () => {
      expect(check(planted(src, 'needs: [matrix, run]', 'needs: [matrix, runs]'))).toEqual(['/jobs/gather/needs: Unresolved job (unresolved job runs)']);
    });

    it('a step key misspelt', () => {
      const found = check(planted(src, '      - name: Run the pipeline\n        shell: bash', '      - name: Run the pipeline\n        shel: bash'));
      expect(found).toContain("/jobs/run/steps/6: Property conditions are not met (Additional property 'shel' is not allowed)");
    });

    it('YAML that does not parse', () => {
      const found = check(planted(src, 'jobs:\n', 'jobs:\n  matrix: [\n'));
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^: Parse Error \(.*line \d+ column \d+/);
    });
  });
});
