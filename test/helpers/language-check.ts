/**
 * Is a page wholly in its language? Chromium opens it and hands back every visible text (HTML
 * text nodes and the SVG figures' <text>), minus what is not prose: code, pre and kbd elements,
 * and text that a page marks as recorded in another language (run.json's English backend reason
 * and step errors: `data-recorded`). Shared by the report's and the diff page's browser tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Catalog } from '../../pipeline/render/messages.js';
import { CHROMIUM } from './browser-check.js';

/** A catalog as key -> raw message (placeholders unfilled). */
export function flatCatalog(catalog: Catalog, prefix = ''): Record<string, string> {
  return Object.fromEntries(
    Object.entries(catalog).flatMap(([k, v]) => (typeof v === 'string' ? [[`${prefix}${k}`, v]] : Object.entries(flatCatalog(v, `${prefix}${k}.`)))),
  );
}

export interface LanguageView {
  /** <html lang> */
  lang: string;
  /** every visible HTML text node's text, whitespace collapsed, in document order */
  texts: string[];
  /** the same for the figures' SVG <text>: titles, axis titles and labels, legends */
  figureTexts: string[];
  /** elements whose lang attribute is not the page's, outside data-recorded ones: tag and lang */
  otherLangs: string[];
  /** the texts of elements marked data-recorded (shown as recorded, in their own language) */
  recorded: string[];
  /** document.title */
  title: string;
  /** how far the page scrolls sideways at this width (0 when everything fits) */
  overflowX: number;
  /** elements wider than the viewport, or sticking out of it, outside any scroll container */
  overflowing: string[];
  /**
   * figure texts that stick out of their SVG, which clips them: vega sizes a figure by estimating
   * its texts' widths (0.8 em a character), and a Hangul syllable is wider than that
   */
  clipped: string[];
}

/**
 * Runs in the page. A string, not a function: the test runner's transform names functions with a
 * helper (`__name`) that does not exist in the page.
 */
const PAGE_SCRIPT = `(() => {
  const vw = window.innerWidth;
  function skipped(el) { return !!(el && el.closest('code, pre, kbd, script, style, title, [data-recorded]')); }
  function visible(el) {
    if (el.getClientRects().length === 0) return false;
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none' && Number(style.opacity) > 0;
  }
  const texts = [];
  const figureTexts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = (node.textContent || '').replace(/\\s+/g, ' ').trim();
    const parent = node.parentElement;
    if (text === '' || !parent || skipped(parent) || !visible(parent)) continue;
    (parent.closest('svg') ? figureTexts : texts).push(text);
  }
  const page = document.documentElement.lang;
  const otherLangs = [...document.body.querySelectorAll('[lang]')]
    .filter((e) => e.getAttribute('lang') !== page && !e.closest('[data-recorded]'))
    .map((e) => e.tagName.toLowerCase() + ' lang=' + e.getAttribute('lang') + ': ' + (e.textContent || '').trim().slice(0, 40));
  function inScrollBox(el) {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return true;
    }
    return false;
  }
  const overflowing = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > vw + 0.5 || r.left < -0.5) && !inScrollBox(el)) {
      const cls = typeof el.className === 'string' && el.className ? '.' + el.className.split(' ').join('.') : '';
      overflowing.push('<' + el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls + '> ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  const clipped = [];
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.width > 0 && (r.right > box.right + 1 || r.left < box.left - 1 || r.bottom > box.bottom + 1 || r.top < box.top - 1)) {
        clipped.push((svg.closest('[data-figure]') || svg).getAttribute('data-figure') + ': ' + t.textContent);
      }
    }
  }
  return {
    lang: document.documentElement.lang,
    clipped,
    texts,
    figureTexts,
    otherLangs,
    recorded: [...document.querySelectorAll('[data-recorded]')].map((e) => (e.textContent || '').trim()),
    title: document.title,
    overflowX: document.documentElement.scrollWidth - vw,
    overflowing,
  };
})()`;

/**
 * Opens `htmlPath` at `width` px and reads its text. Overflow: an element counts when its box
 * leaves the viewport and no ancestor clips or scrolls it (a wide table inside `.scroll` is fine:
 * the reader scrolls that box, not the page).
 */
export async function readPageLanguage(htmlPath: string, width: number, screenshot?: string): Promise<LanguageView> {
  const profile = await mkdtemp(join(tmpdir(), 'cnn-lens-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    headless: true,
  });
  try {
    const page = await context.newPage();
    await page.setViewportSize({ width, height: 900 });
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
    const view = (await page.evaluate(PAGE_SCRIPT)) as LanguageView;
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    return view;
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/** A word of Latin letters (an apostrophe or hyphen inside it allowed): "model", "Glorot-uniform", "book's". */
const LATIN_WORD = /^[A-Za-z]+(?:['’-][A-Za-z]+)*$/;

/**
 * English sentences in a text: runs of 3 or more Latin words with nothing between them but spaces
 * and the punctuation of a sentence (, ; : ( ) and quotes). A digit, a symbol or a Hangul
 * syllable ends a run, so "TensorFlow.js로", "conv2d", "28 × 28" and "Fashion-MNIST 데이터셋" are
 * not sentences, and "The model predicts" is. `allowed` words (layer names, units) are dropped
 * first, as if they were not there.
 */
export function englishRuns(text: string, allowed: ReadonlySet<string> = new Set()): string[] {
  const runs: string[] = [];
  let run: string[] = [];
  const end = () => {
    if (run.length >= 3) runs.push(run.join(' '));
    run = [];
  };
  // Tokens: words-with-inner-punctuation, or single other characters.
  for (const token of text.match(/[A-Za-z0-9_.'’-]+|\s+|[^\sA-Za-z0-9_.'’-]/g) ?? []) {
    if (/^\s+$/.test(token) || /^[,;:()"“”]$/.test(token)) continue;
    const word = token.replace(/[.,]+$/, '');
    if (allowed.has(word)) continue;
    if (LATIN_WORD.test(word)) {
      run.push(word);
      // A full stop ends a sentence: "Run. It" is two runs.
      if (word !== token) end();
    } else end();
  }
  end();
  return runs;
}

/**
 * Messages left in English on a page of another language: every English message (placeholders
 * matching anything) that differs from the page language's own and has a word of 3 or more
 * letters outside its placeholders, found as a whole text. Catches what a sentence rule cannot:
 * a one-word table header or axis title ("layer", "loss") that was never translated.
 */
export function englishMessages(texts: string[], en: Record<string, string>, page: Record<string, string>): string[] {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const patterns = Object.entries(en)
    .filter(([key, text]) => page[key] !== text && /[A-Za-z]{3,}/.test(text.replace(/\{\w+\}/g, '')))
    .map(([key, text]) => ({ key, re: new RegExp(`^${text.trim().split(/\{\w+\}/).map((part) => escape(part.replace(/\s+/g, ' '))).join('.+?')}$`) }));
  return texts.flatMap((t) => patterns.filter((p) => p.re.test(t)).map((p) => `${p.key}: ${t}`));
}
