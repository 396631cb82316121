/**
 * Self-contained HTML pages from Handlebars templates (templates/*.hbs, partials in
 * templates/partials/): the run report and the diff report. Everything a template prints is
 * escaped; the one way to put markup in is the `figure` helper, which inlines an SVG that the
 * project rendered itself (handed over by the caller, never read from the context).
 */
import { readdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import Handlebars from 'handlebars';
import { PROJECT_ROOT } from '../core/manifest.js';
import type { Lang } from '../core/params.js';
import { catalogFiles, loadCatalog, message, type Catalog } from './messages.js';

export const TEMPLATES_DIR = join(PROJECT_ROOT, 'templates');

type Hbs = typeof Handlebars;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** Handlebars passes its options object as the last argument: drop it from optional parameters. */
const arg = <T>(v: unknown, fallback: T): T => (typeof v === 'object' && v !== null && 'hash' in v ? fallback : ((v ?? fallback) as T));
const DASH = '–';

/** Grouped thousands, always with a comma, whatever the machine's locale. */
export function formatInt(n: number): string {
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

/** Formatting helpers every page uses; numbers that are missing print as a dash. */
function registerHelpers(hbs: Hbs): void {
  hbs.registerHelper('fixed', (v: unknown, digits: unknown) => (isNum(v) ? v.toFixed(arg(digits, 4)) : DASH));
  hbs.registerHelper('signed', (v: unknown, digits: unknown) => (isNum(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(arg(digits, 4))}` : DASH));
  hbs.registerHelper('pct', (v: unknown, digits: unknown) => (isNum(v) ? `${(v * 100).toFixed(arg(digits, 2))}%` : DASH));
  hbs.registerHelper('int', (v: unknown) => (isNum(v) ? formatInt(v) : DASH));
  hbs.registerHelper('seconds', (v: unknown) => (isNum(v) ? (v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`) : DASH));
  hbs.registerHelper('bytes', (v: unknown) => (isNum(v) ? (v >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} kB` : `${v} B`) : DASH));
  hbs.registerHelper('shape', (v: unknown) => (Array.isArray(v) ? `(${v.join(', ')})` : DASH));
  hbs.registerHelper('times', (v: unknown) => (Array.isArray(v) ? v.join(' × ') : DASH));
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hbs.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map((a) => String(a ?? '')).join(''));
  hbs.registerHelper('inc', (v: unknown) => (isNum(v) ? v + 1 : v));
  // The page's words in its language: {{t "report.weights.title" n=3}} (pipeline/render/messages.ts).
  hbs.registerHelper('t', function (key: unknown, options: Handlebars.HelperOptions) {
    const catalog = (options.data as { messages?: Catalog }).messages;
    if (!catalog) throw new Error('template uses {{t}} but the page was rendered without a language');
    return message(catalog, String(key), options.hash as Record<string, unknown>);
  });
  // The one unescaped output: an SVG the figures step rendered, looked up by name in the page's
  // figure set (runtime data, not the template context, so no context value can become markup).
  hbs.registerHelper('figure', function (name: unknown, options: Handlebars.HelperOptions) {
    const svgs = (options.data as { figures?: Map<string, string> }).figures;
    const svg = typeof name === 'string' ? svgs?.get(name) : undefined;
    if (svg === undefined) throw new Error(`template asks for figure ${JSON.stringify(name)}, which the page was not given`);
    return new hbs.SafeString(svg);
  });
}

export interface PageRenderer {
  /**
   * Renders templates/<name>.hbs with `context`; `figures` maps figure names to their SVG; `lang`
   * picks the message catalog that `{{t}}` prints from.
   */
  render(name: string, context: object, figures: Map<string, string>, lang?: Lang): Promise<string>;
}

/** An isolated Handlebars with the helpers and every partial of templates/partials/. */
export async function createPageRenderer(dir = TEMPLATES_DIR): Promise<PageRenderer> {
  const hbs = Handlebars.create();
  registerHelpers(hbs);
  const partialsDir = join(dir, 'partials');
  for (const file of (await readdir(partialsDir)).sort()) {
    if (file.endsWith('.hbs')) hbs.registerPartial(basename(file, '.hbs'), await readFile(join(partialsDir, file), 'utf8'));
  }
  const compiled = new Map<string, Handlebars.TemplateDelegate>();
  return {
    async render(name, context, figures, lang) {
      let template = compiled.get(name);
      if (!template) {
        template = hbs.compile(await readFile(join(dir, `${name}.hbs`), 'utf8'), { strict: false, preventIndent: true });
        compiled.set(name, template);
      }
      return template(context, { data: { figures, messages: lang ? loadCatalog(lang) : undefined } });
    },
  };
}

/** Every template, partial and message catalog: the pages' code, part of the fingerprint of the steps that render them. */
export function templateFiles(dir = TEMPLATES_DIR): string[] {
  const partialsDir = join(dir, 'partials');
  const hbs = (d: string) => readdirSync(d).filter((f) => f.endsWith('.hbs')).map((f) => join(d, f));
  return [...hbs(dir), ...hbs(partialsDir), ...catalogFiles(join(dir, 'messages'))].sort();
}
