/**
 * A language for code that prints words, as the figures do: its messages (`t`, from
 * templates/messages/<lang>.json) and its number and date formats (format.ts). Keys are written
 * out as literals at each call, `loc.t('figures.curves.epoch')`: test/messages.test.ts finds them
 * in the sources and checks that both catalogs hold every one.
 */
import type { Lang } from '../core/params.js';
import { formatterOf, type Formatter } from './format.js';
import { loadCatalog, message } from './messages.js';

export interface Locale {
  lang: Lang;
  /** the message at `key` with its placeholders filled; throws on a missing key or value */
  t(key: string, vars?: Record<string, unknown>): string;
  fmt: Formatter;
}

const locales = new Map<Lang, Locale>();

export function localeOf(lang: Lang): Locale {
  let loc = locales.get(lang);
  if (!loc) {
    const catalog = loadCatalog(lang);
    loc = { lang, t: (key, vars) => message(catalog, key, vars), fmt: formatterOf(lang) };
    locales.set(lang, loc);
  }
  return loc;
}
