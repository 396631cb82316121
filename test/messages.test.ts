import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import { LANGS } from '../pipeline/core/params.js';
import { loadCatalog, message, messageKeys } from '../pipeline/render/messages.js';
import { codeKeys, scanSources, templateKeys, type KeyScan, type KeyUse } from './helpers/message-keys.js';

describe('the message catalogs', () => {
  it('have the same keys in every language, and no empty message', () => {
    const [first, ...rest] = LANGS;
    const keys = messageKeys(loadCatalog(first));
    expect(keys.length).toBeGreaterThan(0);
    for (const lang of rest) {
      const other = messageKeys(loadCatalog(lang));
      expect({ lang, missing: keys.filter((k) => !other.includes(k)) }).toEqual({ lang, missing: [] });
      expect({ lang, extra: other.filter((k) => !keys.includes(k)) }).toEqual({ lang, extra: [] });
    }
    for (const lang of LANGS) {
      const catalog = loadCatalog(lang);
      const empty = messageKeys(catalog).filter((k) => message(catalog, k, new Proxy({}, { get: () => 'x' })).trim() === '');
      expect({ lang, empty }).toEqual({ lang, empty: [] });
    }
  });

  it('use the same placeholders in every language', () => {
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const raw = (lang: (typeof LANGS)[number], key: string) => {
      let node: unknown = loadCatalog(lang);
      for (const part of key.split('.')) node = (node as Record<string, unknown>)[part];
      return node as string;
    };
    for (const key of messageKeys(loadCatalog('en'))) {
      expect({ key, ko: placeholders(raw('ko', key)) }).toEqual({ key, ko: placeholders(raw('en', key)) });
    }
  });

  it('fill placeholders, and refuse a missing key or value', () => {
    const catalog = { a: { b: 'accuracy {acc} after {n} epochs' } };
    expect(message(catalog, 'a.b', { acc: '91.6%', n: 9 })).toBe('accuracy 91.6% after 9 epochs');
    expect(() => message(catalog, 'a.c')).toThrow('no message "a.c" in the catalog');
    expect(() => message(catalog, 'a')).toThrow('no message "a" in the catalog');
    expect(() => message(catalog, 'a.b', { acc: 1 })).toThrow('message "a.b" needs a value for {n}');
  });
});

describe('every key the pages and figures use', () => {
  // Parsing the sources takes seconds: once for the file.
  let code: KeyScan | undefined;
  const scanCode = (): KeyScan => (code ??= codeKeys(PROJECT_ROOT, ['pipeline', 'steps']));
  const keysOf = (lang: (typeof LANGS)[number]) => new Set(messageKeys(loadCatalog(lang)));
  /** The uses whose key is missing from a catalog, as "key (file:line)". */
  const missing = (uses: KeyUse[]) =>
    LANGS.flatMap((lang) => {
      const have = keysOf(lang);
      return uses.filter((u) => !have.has(u.key)).map((u) => `${lang}: ${u.key} (${u.where})`);
    });

  it('is in both catalogs: {{t "key"}} in templates/**/*.hbs', () => {
    const scan = templateKeys(join(PROJECT_ROOT, 'templates'), PROJECT_ROOT);
    expect(scan.dynamic).toEqual([]);
    // Not vacuous: the report's and the diff page's words.
    expect(scan.keys.length).toBeGreaterThan(150);
    expect(scan.keys.map((k) => k.where.split(':')[0])).toEqual(expect.arrayContaining(['templates/report.hbs', 'templates/diff.hbs', 'templates/partials/verdict.hbs']));
    expect(missing(scan.keys)).toEqual([]);
  });

  it("is in both catalogs: message(catalog, 'key') and loc.t('key') in pipeline/ and steps/, through any wrapper", () => {
    const scan = scanCode();
    expect(scan.dynamic, 'keys the scanner cannot read: write them out, or say which they can be with // keys: a.b, a.c').toEqual([]);
    expect(scan.keys.length).toBeGreaterThan(80);
    expect(scan.keys.map((k) => k.key)).toEqual(expect.arrayContaining(['common.units.seconds', 'figures.curves.epoch', 'figures.evaluation.confusion_title', 'diff.summary.header']));
    expect(missing(scan.keys)).toEqual([]);
  });

  it('leaves no message unused: a word no page prints is a stale one', () => {
    const used = new Set([...templateKeys(join(PROJECT_ROOT, 'templates'), PROJECT_ROOT).keys, ...scanCode().keys].map((k) => k.key));
    expect(messageKeys(loadCatalog('en')).filter((k) => !used.has(k))).toEqual([]);
  });

  it('the scanner finds literal, wrapped, conditional and declared keys, and flags the rest', () => {
    const source = (name: string, text: string) => ts.createSourceFile(join('/p', name), text, ts.ScriptTarget.ES2022, true);
    const scan = scanSources('/p', [
      source(
        'a.ts',
        [
          "import { message } from '../render/messages.js';",
          "message(c, 'a.literal');",
          "message(c, ok ? 'a.yes' : 'a.no');",
          'const t = (inputs: X, key: string) => message(inputs.m, `a.wrapped.${key}`);',
          "t(inputs, 'one');",
          'const tt = (key: string) => t(null, `deeper.${key}`);',
          "tt('two');",
          'export const shared = (key: string) => message(c, `s.${key}`);',
          'message(c, someKey);',
          't(inputs, s.split);',
          '// keys: a.wrapped.train, a.wrapped.test',
          't(inputs, s.split);',
          "loc.t('b.method');",
          "failures.message(list);",
        ].join('\n'),
      ),
      source('b.ts', "import { shared as sh } from './a.js';\nsh('x');\nmessage(c, 'not.the.import');"),
    ]);
    expect(scan.keys.map((k) => `${k.key} ${k.where}`)).toEqual([
      'a.literal a.ts:2',
      'a.yes a.ts:3',
      'a.no a.ts:3',
      'a.wrapped.one a.ts:5',
      'a.wrapped.deeper.two a.ts:7',
      'a.wrapped.train a.ts:12',
      'a.wrapped.test a.ts:12',
      'b.method a.ts:13',
      's.x b.ts:2',
    ]);
    expect(scan.dynamic.map((k) => `${k.key} ${k.where}`)).toEqual(['someKey a.ts:9', 's.split a.ts:10']);
    const hbs = templateKeys(join(PROJECT_ROOT, 'templates', 'partials'), PROJECT_ROOT);
    expect(hbs.keys.filter((k) => k.key === 'common.right').map((k) => k.where)).toContain('templates/partials/verdict.hbs:1');
  });
});
