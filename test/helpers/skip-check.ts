/**
 * A vitest reporter that makes skipped tests visible: after the run it lists every skipped test
 * by file and full name, with the allow-list's reason or the test's own note. With `enforce` (CI)
 * a skipped test that is not on the allow-list fails the run: a check that quietly stopped
 * running (a missing package, a condition gone wrong) must not look like a pass.
 */
import { relative } from 'node:path';
import type { Reporter, TestCase, TestModule, Vitest } from 'vitest/node';

export interface AllowedSkip {
  /** A part of the test's full name ("suite > test"). */
  name: string;
  why: string;
}

export class SkipCheck implements Reporter {
  private vitest: Vitest | undefined;

  constructor(
    private readonly allowed: readonly AllowedSkip[],
    private readonly enforce: boolean,
  ) {}

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const vitest = this.vitest;
    if (!vitest) return;
    const skipped: { test: TestCase; why: string | undefined }[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        if (test.result().state !== 'skipped') continue;
        skipped.push({ test, why: this.allowed.find((a) => test.fullName.includes(a.name))?.why });
      }
    }
    if (skipped.length === 0) return;
    if (vitest.config.testNamePattern) {
      // -t marks every test it leaves out as skipped: those are not lost checks.
      vitest.logger.log(`skipped tests: ${skipped.length} (not checked: a -t filter leaves tests out)`);
      return;
    }
    const where = (t: TestCase) => `${relative(vitest.config.root, t.module.moduleId)} > ${t.fullName}`;
    const note = (t: TestCase) => {
      const r = t.result();
      return r.state === 'skipped' && r.note ? ` (${r.note})` : '';
    };
    const unexpected = skipped.filter((s) => s.why === undefined);
    const lines = [`skipped tests: ${skipped.length}, ${unexpected.length} not on the allow-list in vitest.config.ts`];
    for (const { test, why } of skipped) lines.push(`  ${where(test)}${note(test)}: ${why ?? 'not on the allow-list'}`);
    if (unexpected.length > 0 && this.enforce) {
      lines.push(`FAIL: ${unexpected.length} test(s) skipped that are not on the allow-list: make them run, or add them to the allow-list with the reason`);
      process.exitCode = 1;
    } else if (unexpected.length > 0) {
      lines.push('(CI=true fails the run on these)');
    }
    (unexpected.length > 0 ? vitest.logger.error : vitest.logger.log).call(vitest.logger, lines.join('\n'));
  }
}
