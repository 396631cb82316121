import { describe, expect, it } from 'vitest';
import { LANGS } from '../pipeline/core/params.js';
import { loadCatalog, message, messageKeys } from '../pipeline/render/messages.js';

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
