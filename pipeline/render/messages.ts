/**
 * The pages' words: one catalog per language, templates/messages/<lang>.json, nested by page and
 * section ("report.weights.title"). Templates print them with `{{t "key" name=value}}`, figures
 * with `message(catalog, key, vars)`. A key missing from the page's language is an error, never a
 * silent fall-back to English: test/messages.test.ts keeps both catalogs' keys equal.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lang } from '../core/params.js';
import { PROJECT_ROOT } from '../core/manifest.js';

export interface Catalog {
  [key: string]: string | Catalog;
}

export const MESSAGES_DIR = join(PROJECT_ROOT, 'templates', 'messages');

const cache = new Map<string, Catalog>();

/** templates/messages/<lang>.json, read once per process. */
export function loadCatalog(lang: Lang, dir = MESSAGES_DIR): Catalog {
  const path = join(dir, `${lang}.json`);
  let catalog = cache.get(path);
  if (!catalog) {
    catalog = JSON.parse(readFileSync(path, 'utf8')) as Catalog;
    cache.set(path, catalog);
  }
  return catalog;
}

/** Every catalog file: part of the fingerprint of the steps whose pages or figures print them. */
export function catalogFiles(dir = MESSAGES_DIR): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f));
}

/** Every key of a catalog, dotted, sorted. */
export function messageKeys(catalog: Catalog, prefix = ''): string[] {
  return Object.entries(catalog)
    .flatMap(([k, v]) => (typeof v === 'string' ? [`${prefix}${k}`] : messageKeys(v, `${prefix}${k}.`)))
    .sort();
}

/**
 * The message at `key` with its `{name}` placeholders filled from `vars`. Throws on a missing key
 * or a placeholder without a value: a page with a hole in it is a bug to find in the tests.
 */
export function message(catalog: Catalog, key: string, vars: Record<string, unknown> = {}): string {
  let node: string | Catalog | undefined = catalog;
  for (const part of key.split('.')) node = typeof node === 'object' ? node[part] : undefined;
  if (typeof node !== 'string') throw new Error(`no message ${JSON.stringify(key)} in the catalog`);
  return node.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined || v === null) throw new Error(`message ${JSON.stringify(key)} needs a value for {${name}}`);
    return String(v);
  });
}
