/**
 * What a reader sees: a page opened from disk in Debian's chromium (driven by playwright-core),
 * at a laptop's and a phone's width. Shared by the report's and the diff report's browser tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface FigureBox {
  name: string;
  width: number;
  height: number;
  /** displayed and not hidden by CSS */
  visible: boolean;
  /** the figure's right edge stays within the viewport */
  fits: boolean;
}

export interface PageView {
  width: number;
  /** console messages of type error, and uncaught page errors */
  errors: string[];
  /** every URL the page asked for, the page itself included */
  requests: string[];
  /** ids of the page's sections, in document order */
  sections: string[];
  figures: FigureBox[];
  /** how far the page scrolls sideways (0 when everything fits the width) */
  overflowX: number;
  /** the page's visible text, for escaping checks */
  text: string;
  /** <script> elements, and elements with event handlers or embedding something: none in a safe page */
  scripts: number;
  injected: number;
}

/** Opens `htmlPath` at each width (fresh browser profile), records what happened, saves full-page screenshots. */
export async function viewPage(htmlPath: string, widths: { width: number; screenshot?: string }[]): Promise<PageView[]> {
  const profile = await mkdtemp(join(tmpdir(), 'cnn-lens-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const views: PageView[] = [];
    for (const { width, screenshot } of widths) {
      const page = await context.newPage();
      await page.setViewportSize({ width, height: 900 });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
      const seen = await page.evaluate(() => {
        const vw = window.innerWidth;
        const figures = [...document.querySelectorAll<HTMLElement>('figure[data-figure]')].map((f) => {
          const svg = f.querySelector('svg');
          const r = svg?.getBoundingClientRect();
          const style = svg ? getComputedStyle(svg) : null;
          return {
            name: f.dataset.figure ?? '',
            width: r?.width ?? 0,
            height: r?.height ?? 0,
            visible: !!style && style.display !== 'none' && style.visibility !== 'hidden' && Number(style.opacity) > 0,
            fits: !!r && r.right <= vw + 0.5,
          };
        });
        return {
          sections: [...document.querySelectorAll('section[id]')].map((s) => s.id),
          figures,
          overflowX: document.documentElement.scrollWidth - vw,
          text: document.body.innerText,
          scripts: document.querySelectorAll('script').length,
          injected: document.querySelectorAll('[onerror], [onload], iframe, object, embed').length,
        };
      });
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
      views.push({ width, errors, requests, ...seen });
      await page.close();
    }
    return views;
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}

/**
 * Everything a reader needs: no errors, nothing fetched but the page itself, these sections and
 * figures (in page order), every figure displayed and within the width, nothing pushing the page
 * sideways (wide tables scroll inside their own box), no script and nothing injected.
 */
export function expectWholePage(view: PageView, htmlPath: string, sections: string[], figures: string[]): void {
  expect(view.errors).toEqual([]);
  expect(view.requests.filter((u) => !u.startsWith('data:'))).toEqual([pathToFileURL(htmlPath).href]);
  expect(view.sections).toEqual(sections);
  expect(view.figures.map((f) => f.name)).toEqual(figures);
  for (const f of view.figures) {
    expect({ name: f.name, visible: f.visible, fits: f.fits }).toEqual({ name: f.name, visible: true, fits: true });
    expect(f.width).toBeGreaterThan(100);
    expect(f.height).toBeGreaterThan(50);
  }
  expect(view.overflowX).toBeLessThanOrEqual(0);
  expect(view.scripts).toBe(0);
  expect(view.injected).toBe(0);
}

/** Parses each SVG with the browser's XML parser; returns, per SVG, the parser's error text or null. */
export async function parseSvgs(svgs: string[]): Promise<(string | null)[]> {
  const profile = await mkdtemp(join(tmpdir(), 'cnn-lens-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const page = await context.newPage();
    return await page.evaluate((list) => {
      return list.map((text) => {
        const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        const error = doc.querySelector('parsererror');
        if (error) return error.textContent ?? 'parsererror';
        return doc.documentElement.localName === 'svg' ? null : `root is <${doc.documentElement.localName}>`;
      });
    }, svgs);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
}
