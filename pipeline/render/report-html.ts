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
import { formatterOf, type Formatter } from './format.js';

export { formatInt } from './format.js';

export const TEMPLATES_DIR = join(PROJECT_ROOT, 'templates');

type Hbs = typeof Handlebars;

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
const escapeText = (s: string): string => s.replace(/[&<>"]/g, (c) => TEXT_ESCAPES[c]);

const isOptions = (v: unknown): v is Handlebars.HelperOptions => typeof v === 'object' && v !== null && 'hash' in v;

/**
 * A formatting helper in the page's language (format.ts): Handlebars passes its options object
 * last, after however many arguments the template gave, so optional ones arrive as undefined.
 */
function formatHelper(format: (f: Formatter, v: unknown, digits: number | undefined) => string) {
  return function (...args: unknown[]): string {
    const options = args.pop();
    const lang = isOptions(options) ? (options.data as { lang?: Lang }).lang : undefined;
    const digits = typeof args[1] === 'number' ? args[1] : undefined;
    return format(formatterOf(lang ?? 'en'), args[0], digits);
  };
}

/** Formatting helpers every page uses; numbers that are missing print as a dash. */
function registerHelpers(hbs: Hbs): void {
  hbs.registerHelper('fixed', formatHelper((f, v, d) => f.fixed(v, d)));
  hbs.registerHelper('signed', formatHelper((f, v, d) => f.signed(v, d)));
  hbs.registerHelper('pct', formatHelper((f, v, d) => f.pct(v, d)));
  hbs.registerHelper('int', formatHelper((f, v) => f.int(v)));
  hbs.registerHelper('seconds', formatHelper((f, v) => f.seconds(v)));
  hbs.registerHelper('bytes', formatHelper((f, v) => f.bytes(v)));
  hbs.registerHelper('shape', formatHelper((f, v) => f.shape(v)));
  hbs.registerHelper('times', formatHelper((f, v) => f.times(v)));
  hbs.registerHelper('date', formatHelper((f, v) => f.date(v)));
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  // A value, or a fallback where it is missing: {{t "key" seed=(or run.seed (t "common.unknown"))}}.
  hbs.registerHelper('or', (a: unknown, b: unknown) => (a === undefined || a === null || a === '' ? b : a));
  // Escaped parts (a `(t ...)`) stay escaped once: the rest is escaped here and the whole is markup-safe.
  hbs.registerHelper('concat', (...args: unknown[]) => {
    const parts = args.slice(0, -1);
    if (!parts.some((a) => a instanceof hbs.SafeString)) return parts.map((a) => String(a ?? '')).join('');
    return new hbs.SafeString(parts.map((a) => (a instanceof hbs.SafeString ? a.toString() : hbs.escapeExpression(String(a ?? '')))).join(''));
  });
  hbs.registerHelper('inc', (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v + 1 : v));
  // The page's words in its language: {{t "report.weights.title" n=3}} (pipeline/render/messages.ts).
  // Escaped as text and double-quoted attributes need (& < > "), not as Handlebars escapes by
  // default (' = ` too): the catalog's sentences keep the bytes they had as template text, so the
  // English page did not change when its words moved into the catalog. A placeholder's value, which
  // may come from a run's files, is escaped the same way, once: a value that is already escaped
  // (a nested `(t ...)`) is kept as it is.
  hbs.registerHelper('t', function (key: unknown, options: Handlebars.HelperOptions) {
    const catalog = (options.data as { messages?: Catalog }).messages;
    if (!catalog) throw new Error('template uses {{t}} but the page was rendered without a language');
    const values: string[] = [];
    const vars: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(options.hash as Record<string, unknown>)) {
      if (v === undefined || v === null) vars[name] = v;
      else {
        vars[name] = `\u0000${values.length}\u0000`;
        values.push(v instanceof hbs.SafeString ? v.toString() : escapeText(String(v)));
      }
    }
    const text = escapeText(message(catalog, String(key), vars)).replace(/\u0000(\d+)\u0000/g, (_, i: string) => values[Number(i)]);
    return new hbs.SafeString(text);
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
      return template(context, { data: { figures, lang, messages: lang ? loadCatalog(lang) : undefined } });
    },
  };
}

/** Every template, partial and message catalog: the pages' code, part of the fingerprint of the steps that render them. */
export function templateFiles(dir = TEMPLATES_DIR): string[] {
  const partialsDir = join(dir, 'partials');
  const hbs = (d: string) => readdirSync(d).filter((f) => f.endsWith('.hbs')).map((f) => join(d, f));
  return [...hbs(dir), ...hbs(partialsDir), ...catalogFiles(join(dir, 'messages'))].sort();
}
