/**
 * The inputs that excite each filter most (filter-patterns/), laid out as the chapter lays out
 * kernels: 2 x 16 for 32 filters, 8 x 8 for 64, trained beside untrained, in the chapter's
 * reversed grey on the fixed range 0..1 (a pixel's value means the same in every tile). Each panel
 * is ONE greyscale PNG of all its tiles (one pixel per input pixel, a 1-pixel gap between tiles)
 * drawn enlarged, with the frame drawn over the gaps: 96 tiles as separate images would cost a data
 * URL and its markup each. Dead filters are outlined in red.
 */
import { PNG } from 'pngjs';
import type { TopLevelSpec } from 'vega-lite';
import type { TensorFolder } from '../../catalog/artifacts.js';
import type { NpyArray } from '../../catalog/npy.js';
import type { FilterPatternsIndex, FilterPatternsIndexSchema, PatternLayer } from '../../catalog/schema.js';
import { colorIndex, colormapRgb, pngDataUrl } from '../heatmap.js';
import type { Locale } from '../locale.js';
import { CONFIG, SCHEMA } from './common.js';
import type { FigureSpecOf } from './write-figure.js';

export interface FilterPatternFigureInputs {
  index: FilterPatternsIndex;
  /** the .npy files of filter-patterns/, by their path relative to it */
  tensors: Map<string, NpyArray>;
  locale: Locale;
}

/** filter-patterns/index.json and every tensor it lists (an index of a model without conv layers lists none). */
export async function loadFilterPatterns(folder: TensorFolder<typeof FilterPatternsIndexSchema>, locale: Locale): Promise<FilterPatternFigureInputs> {
  const index = await folder.index.read();
  const tensors = new Map<string, NpyArray>();
  for (const l of index.layers) {
    for (const set of [l.trained, l.untrained]) tensors.set(set.file, await folder.read(set.file, l.shape));
  }
  return { index, tensors, locale };
}

/** The chapter's kernel grids: 16 columns for 32 filters (2 x 16), a square for 64 (8 x 8). */
export function patternColumns(filters: number): number {
  return filters === 32 ? 16 : Math.ceil(Math.sqrt(filters));
}

/** Between tiles, in image pixels: a line of the frame colour is drawn over it. */
const FRAME = 1;
const FRAME_COLOR = '#c4d0de';
/** Screen pixels per input pixel: a 28 x 28 tile draws at 42 px, so 16 tiles fit a page's width. */
const ZOOM = 1.5;

/**
 * All tiles of one model in one greyscale PNG, `cols` per row, in filter order, with a 1-pixel gap
 * between them. Greyscale, not RGB: a third of the bytes, and the frame is drawn as lines instead
 * (the untrained twin's noisy tiles barely compress, so every byte per pixel counts).
 */
export function mosaicPng(data: Float32Array, filters: number, h: number, w: number, cols: number): { png: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(filters / cols);
  const width = cols * (w + FRAME) - FRAME;
  const height = rows * (h + FRAME) - FRAME;
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
  const grey = Buffer.alloc(width * height, 255);
  for (let f = 0; f < filters; f++) {
    const ox = (f % cols) * (w + FRAME);
    const oy = Math.floor(f / cols) * (h + FRAME);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) grey[(oy + y) * width + ox + x] = colormapRgb('gray_r', colorIndex(data[(f * h + y) * w + x], 0, 1))[0];
    }
  }
  png.data = grey;
  return { png: PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false }), width, height };
}

const px = (field: string) => ({ field, type: 'quantitative' as const, scale: null });

/** The frame, in screen pixels: one line down the middle of each gap between tiles, and one around them all (white tiles need edges). */
function frameLines(cols: number, rows: number, h: number, w: number) {
  const at = (i: number, size: number) => (i * (size + FRAME) - FRAME / 2) * ZOOM;
  const [left, right, top, bottom] = [at(0, w), at(cols, w), at(0, h), at(rows, h)];
  return [
    ...Array.from({ length: cols + 1 }, (_, c) => ({ x: at(c, w), x2: at(c, w), y: top, y2: bottom })),
    ...Array.from({ length: rows + 1 }, (_, r) => ({ x: left, x2: right, y: at(r, h), y2: at(r, h) })),
  ];
}

function panel(label: string, tensor: NpyArray, dead: number[], cols: number) {
  const [filters, h, w] = tensor.shape;
  const { png, width, height } = mosaicPng(tensor.data, filters, h, w, cols);
  const [sw, sh] = [width * ZOOM, height * ZOOM];
  const rows = Math.ceil(filters / cols);
  const box = (f: number) => {
    const x = (f % cols) * (w + FRAME) * ZOOM;
    const y = Math.floor(f / cols) * (h + FRAME) * ZOOM;
    return { filter: f, x, x2: x + w * ZOOM, y, y2: y + h * ZOOM };
  };
  return {
    title: { text: label, fontSize: 12, fontWeight: 'normal' as const },
    width: sw,
    height: sh,
    layer: [
      {
        data: { values: [{ x: 0, y: 0, url: pngDataUrl(png) }] },
        // Pixels stay square; aria off: a label would repeat the whole data URL.
        mark: { type: 'image' as const, width: sw, height: sh, aspect: false, align: 'left' as const, baseline: 'top' as const, smooth: false, aria: false },
        encoding: { x: px('x'), y: px('y'), url: { field: 'url', type: 'nominal' as const } },
      },
      {
        data: { values: frameLines(cols, rows, h, w) },
        mark: { type: 'rule' as const, color: FRAME_COLOR, strokeWidth: FRAME * ZOOM, aria: false },
        encoding: { x: px('x'), x2: { field: 'x2' }, y: px('y'), y2: { field: 'y2' } },
      },
      ...(dead.length
        ? [
            {
              data: { values: dead.map(box) },
              mark: { type: 'rect' as const, filled: false, color: '#d62728', strokeWidth: 2, aria: false },
              encoding: { x: px('x'), x2: { field: 'x2' }, y: px('y'), y2: { field: 'y2' } },
            },
          ]
        : []),
    ],
  };
}

const deadOf = (filters: { dead: boolean }[]) => filters.flatMap((f, i) => (f.dead ? [i] : []));

function layerFigure(inputs: FilterPatternFigureInputs, l: PatternLayer): FigureSpecOf<'filter-patterns'> {
  const { locale: loc, index } = inputs;
  const tensor = (file: string) => {
    const t = inputs.tensors.get(file);
    if (!t) throw new Error(`figures: tensor ${file} was not loaded`);
    return t;
  };
  const [filters] = l.shape;
  const cols = patternColumns(filters);
  const panels = [
    panel(loc.t('figures.trained'), tensor(l.trained.file), deadOf(l.trained.filters), cols),
    panel(loc.t('figures.untrained'), tensor(l.untrained.file), deadOf(l.untrained.filters), cols),
  ];
  const vars = { layer: l.layer, filters, steps: index.steps };
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: { text: loc.t('beyond.filter-patterns.figure.title', vars), subtitle: loc.t('beyond.filter-patterns.figure.subtitle', vars) },
    config: CONFIG,
    // The wide 2 x 16 grids stacked, as the chapter's kernel figure; square grids side by side.
    ...(cols > 8 ? { vconcat: panels } : { hconcat: panels }),
  };
  return { name: `filter-patterns-${l.layer.replace(/[^A-Za-z0-9_-]/g, '_')}`, kind: 'filter-patterns', layer: l.layer, title: loc.t('beyond.filter-patterns.figure.entry', vars), spec };
}

/** One figure per conv layer; none for a model without conv layers. */
export function filterPatternFigures(inputs: FilterPatternFigureInputs): FigureSpecOf<'filter-patterns'>[] {
  return inputs.index.layers.map((l) => layerFigure(inputs, l));
}
