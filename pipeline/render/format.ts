/**
 * Numbers and dates as the pages and figures of one language print them: one module, so that the
 * report, the diff page and the figures agree. Deterministic: a fixed locale per language (Intl,
 * never the machine's locale) and a fixed time zone (run.json records instants in UTC and no zone).
 */
import type { Lang } from '../core/params.js';
import { loadCatalog, message } from './messages.js';

/** The Intl locale of each page language. */
export const LOCALES: Record<Lang, string> = { en: 'en-US', ko: 'ko-KR' };

/** run.json records no time zone: dates show in UTC, and say so. */
export const TIME_ZONE = 'UTC';

/** What a number that is missing prints as. */
export const DASH = '–';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const intFormats = new Map<Lang, Intl.NumberFormat>();

/** Grouped thousands ("333,526" in both languages), rounded half away from zero. */
export function formatInt(n: number, lang: Lang = 'en'): string {
  let f = intFormats.get(lang);
  if (!f) intFormats.set(lang, (f = new Intl.NumberFormat(LOCALES[lang], { maximumFractionDigits: 0, useGrouping: true })));
  return f.format(n);
}

export interface Formatter {
  lang: Lang;
  /** 333,526 */
  int(v: unknown): string;
  /** 0.2517 (digits after the point; 4 by default) */
  fixed(v: unknown, digits?: number): string;
  /** +0.0123, -0.0123 */
  signed(v: unknown, digits?: number): string;
  /** 91.25% (2 digits by default) */
  pct(v: unknown, digits?: number): string;
  /** a duration: 9.12 s / 9.12초 */
  seconds(v: unknown): string;
  /** 1.23 MB */
  bytes(v: unknown): string;
  /** (3, 3, 1, 32) */
  shape(v: unknown): string;
  /** 28 × 28 */
  times(v: unknown): string;
  /** an ISO instant from run.json: as recorded in English, "2026년 11월 28일 오후 11:32 UTC" in Korean */
  date(v: unknown): string;
}

/**
 * A date from Intl's parts in the language's locale, with the catalog's words for AM and PM: ICU 78
 * (Node 20.20) prints "PM" in ko-KR where earlier ICUs print "오후", and a page must not change with
 * the Node version.
 */
function localDate(d: Date, lang: Lang): string {
  const parts = new Intl.DateTimeFormat(LOCALES[lang], {
    year: 'numeric',
    month: 'long',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    hour12: true,
    timeZone: TIME_ZONE,
    timeZoneName: 'short',
  }).formatToParts(d);
  const hour = Number(new Intl.DateTimeFormat('en-US', { hour: 'numeric', hourCycle: 'h23', timeZone: TIME_ZONE }).format(d));
  const catalog = loadCatalog(lang);
  const period = message(catalog, hour < 12 ? 'common.date.am' : 'common.date.pm');
  return parts.map((p) => (p.type === 'dayPeriod' ? period : p.value)).join('');
}

const formatters = new Map<Lang, Formatter>();

/** The formatter of a language (one per process and language). */
export function formatterOf(lang: Lang): Formatter {
  const cached = formatters.get(lang);
  if (cached) return cached;
  const catalog = loadCatalog(lang);
  const f: Formatter = {
    lang,
    int: (v) => (isNum(v) ? formatInt(v, lang) : DASH),
    fixed: (v, digits = 4) => (isNum(v) ? v.toFixed(digits) : DASH),
    signed: (v, digits = 4) => (isNum(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(digits)}` : DASH),
    pct: (v, digits = 2) => (isNum(v) ? `${(v * 100).toFixed(digits)}%` : DASH),
    seconds: (v) => (isNum(v) ? message(catalog, 'common.units.seconds', { n: v < 10 ? v.toFixed(2) : v.toFixed(1) }) : DASH),
    bytes: (v) => (isNum(v) ? (v >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} kB` : `${v} B`) : DASH),
    shape: (v) => (Array.isArray(v) ? `(${v.join(', ')})` : DASH),
    times: (v) => (Array.isArray(v) ? v.join(' × ') : DASH),
    date: (v) => {
      // Missing: empty, for the template to say so in words.
      if (typeof v !== 'string' || v === '') return '';
      // English keeps the instant as run.json records it (ISO 8601, UTC), as the page always did.
      if (lang === 'en') return v;
      const d = new Date(v);
      return Number.isNaN(d.getTime()) ? v : localDate(d, lang);
    },
  };
  formatters.set(lang, f);
  return f;
}
