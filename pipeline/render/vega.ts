/**
 * Figures from Vega-Lite specs: compiled and rendered to SVG by vega in Node, rasterized to PNG by
 * resvg. The same spec gives the same SVG bytes on any machine: text widths are vega's estimate
 * (never a canvas that may or may not be installed), the SVG ids are reset before each render and
 * prefixed with the figure's name (so that many SVGs can share one HTML page), and nothing is
 * fetched: a spec may only reference `data:` URLs.
 */
import { Resvg } from '@resvg/resvg-js';
import type * as Vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type { TopLevelSpec };

let vegaModule: Promise<typeof Vega> | undefined;
/** vega takes about a second to import: loaded on the first render, never by a run whose figures are up to date. */
const loadVega = () => (vegaModule ??= import('vega'));

export interface RenderedSvg {
  svg: string;
  width: number;
  height: number;
}

/** A vega loader that serves `data:` URLs and refuses everything else: figures never touch the network or disk. */
function offlineLoader(vega: typeof Vega): ReturnType<typeof Vega.loader> {
  const base = vega.loader();
  const refuse = (uri: string) => Promise.reject(new Error(`figure specs may only reference data: URLs, not ${JSON.stringify(uri)}`));
  return {
    ...base,
    load: (uri: string) => (uri.startsWith('data:') ? base.load(uri) : refuse(uri)),
    sanitize: (uri: string) => (uri.startsWith('data:') ? Promise.resolve({ href: uri }) : refuse(uri)),
    http: (uri: string) => refuse(uri),
    file: (uri: string) => refuse(uri),
  } as ReturnType<typeof Vega.loader>;
}

/** A vega logger that keeps errors and warnings (vega's default prints them and carries on). */
function collectingLogger(vega: typeof Vega, into: string[]): Vega.LoggerInterface {
  const text = (args: readonly unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  let level = vega.Warn;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error: (...args: readonly unknown[]) => (into.push(text(args)), logger),
    warn: (...args: readonly unknown[]) => (into.push(text(args)), logger),
    info: () => logger,
    debug: () => logger,
  };
  return logger as unknown as Vega.LoggerInterface;
}

/** Ids that must be unique in a page that inlines several SVGs. */
const ID_REF = /(\bid="|url\(#|href="#)([A-Za-z_][\w-]*)/g;

/** Vega-Lite spec -> SVG string. `name` prefixes the SVG's ids (clip paths, gradients). */
export async function renderSvg(spec: TopLevelSpec, name: string): Promise<RenderedSvg> {
  if (!/^[A-Za-z][\w-]*$/.test(name)) throw new Error(`renderSvg: figure name ${JSON.stringify(name)} must be a letter followed by letters, digits, _ or -`);
  const vgSpec = compile(spec).spec;
  const vega = await loadVega();
  (vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false);
  const problems: string[] = [];
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader: offlineLoader(vega), logger: collectingLogger(vega, problems) });
  try {
    // Ids count up in module-level counters; reset so a figure's ids do not depend on what was rendered before.
    vega.resetSVGDefIds();
    const raw = await view.toSVG();
    // vega logs a failed data load or a broken encoding and draws on regardless: a figure with a
    // hole in it must not pass as a good one.
    if (problems.length > 0) throw new Error(`figure ${name}: ${problems.join('; ')}`);
    const svg = raw.replace(ID_REF, (_m, lead: string, id: string) => `${lead}${name}-${id}`);
    return { svg, ...svgSize(svg) };
  } finally {
    view.finalize();
  }
}

/** The width and height attributes of an SVG's root element. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /^<svg\b[^>]*>/.exec(svg)?.[0];
  const width = Number(/\swidth="([\d.]+)"/.exec(root ?? '')?.[1]);
  const height = Number(/\sheight="([\d.]+)"/.exec(root ?? '')?.[1]);
  if (!root || !(width > 0) || !(height > 0)) throw new Error('svgSize: the SVG has no positive width and height on its root element');
  return { width, height };
}

/**
 * SVG -> PNG at `scale` x the SVG's size (2 = sharp on high-density screens and slides). Text is
 * drawn with the system's fonts (DejaVu Sans first, as Debian has it), so PNG bytes are stable on
 * one machine but may differ between machines with other fonts; the SVG is the portable artifact.
 */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  // vega writes both values for browsers; resvg knows only the first, and the second overrides it.
  const crisp = svg.replaceAll('image-rendering: optimizeSpeed; image-rendering: pixelated;', 'image-rendering: optimizeSpeed;');
  const resvg = new Resvg(crisp, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    background: 'white',
  });
  return resvg.render().asPng();
}
