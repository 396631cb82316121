/**
 * One figure on disk: its Vega-Lite spec (<name>.vl.json), the SVG vega renders from it and a PNG
 * of that SVG. The figures step and the diff render their figures this way.
 */
import { execFileSync } from 'node:child_process';
import { stableStringify } from '../../core/hash.js';
import { renderSvg, svgToPng, type TopLevelSpec } from '../vega.js';
import type { FigureEntry } from '../../catalog/schema.js';
import type { FigureFiles } from '../../catalog/artifacts.js';

export interface FigureSpecOf<K extends string> {
  name: string;
  kind: K;
  title: string;
  sample?: string;
  layer?: string;
  spec: TopLevelSpec;
}

/** Renders one figure: its index entry and its three files (spec, SVG, PNG), for the caller to write. */
export async function renderFigure<K extends string>(fig: FigureSpecOf<K>): Promise<{ entry: FigureEntry<K>; files: FigureFiles }> {
  const spec = stableStringify(fig.spec) + '\n';
  const { svg, width, height } = await renderSvg(fig.spec, fig.name);
  const png = svgToPng(svg);
  const entry: FigureEntry<K> = {
    name: fig.name,
    kind: fig.kind,
    title: fig.title,
    width,
    height,
    bytes: { spec: Buffer.byteLength(spec), svg: Buffer.byteLength(svg), png: png.byteLength },
  };
  if (fig.sample !== undefined) entry.sample = fig.sample;
  if (fig.layer !== undefined) entry.layer = fig.layer;
  return { entry, files: { spec, svg, png } };
}

/**
 * Whether the system has a font with Korean glyphs (resvg draws the PNGs with the system's fonts;
 * without one, Korean class names come out as boxes). null when fontconfig cannot be asked.
 */
export function hasKoreanFont(): boolean | null {
  try {
    return execFileSync('fc-list', [':lang=ko', 'family'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    return null;
  }
}
