/**
 * What the model gets wrong (mistakes/): the most confident mistakes as a grid of small images,
 * each under its rank and test index, its true class and what the model took it for; and the map
 * of the hidden Dense layer, every predicted test image a dot coloured by its true class, the
 * mistakes ringed. The map's dots are one raster image inside the figure (scatter-raster.ts): as
 * SVG marks, 10,000 dots would weigh about 1 MB in the page. Words come from the message catalog
 * (`beyond.mistakes.figures.*`), class names in the report's language.
 */
import type { TopLevelSpec } from 'vega-lite';
import * as vega from 'vega';
import type { TensorFolder } from '../../catalog/artifacts.js';
import { IMAGE_SIZE } from '../../catalog/dataset.js';
import type { NpyArray } from '../../catalog/npy.js';
import type { MistakesIndex, MistakesIndexSchema } from '../../catalog/schema.js';
import { heatmapPng, pngDataUrl } from '../heatmap.js';
import type { Locale } from '../locale.js';
import { scatterPng } from '../scatter-raster.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';
import type { FigureSpecOf } from './write-figure.js';

export type MistakesFigureKind = 'mistakes' | 'mistakes-map';

export interface MistakesFigureInputs {
  index: MistakesIndex;
  /** the top mistakes' input images, by their path relative to mistakes/ */
  images: Map<string, NpyArray>;
  /** [points, 2], null without a map */
  coords: NpyArray | null;
  /** [test_images, classes] and [test_images] */
  probabilities: NpyArray;
  labels: NpyArray;
  classNames: readonly string[];
  locale: Locale;
}

/** mistakes/index.json and every tensor it lists. */
export async function loadMistakes(folder: TensorFolder<typeof MistakesIndexSchema>, classNames: readonly string[], locale: Locale): Promise<MistakesFigureInputs> {
  const index = await folder.index.read();
  const images = new Map<string, NpyArray>();
  for (const m of index.top) images.set(m.image, await folder.read(m.image, [IMAGE_SIZE, IMAGE_SIZE]));
  return {
    index,
    images,
    coords: index.map ? await folder.read(index.map.coords.file, index.map.coords.shape) : null,
    probabilities: await folder.read(index.probabilities.file, index.probabilities.shape),
    labels: await folder.read(index.labels.file, index.labels.shape),
    classNames,
    locale,
  };
}

/**
 * Grid of the mistakes: columns, screen pixels per image pixel, room for the text under an image.
 * Four columns: at a phone's width (390 px) the figure shrinks by a fifth, and its words stay legible.
 */
const COLUMNS = 4;
const ZOOM = 3;
const CELL_W = IMAGE_SIZE * ZOOM + 36;
const CELL_H = IMAGE_SIZE * ZOOM + 62;

function mistakesGrid(inputs: MistakesFigureInputs): FigureSpecOf<'mistakes'> {
  const { index, classNames, locale: loc } = inputs;
  const size = IMAGE_SIZE * ZOOM;
  const tiles = index.top.map((m, i) => {
    const image = inputs.images.get(m.image);
    if (!image) throw new Error(`figures: mistake image ${m.image} was not loaded`);
    return {
      x: (i % COLUMNS) * CELL_W,
      y: Math.floor(i / COLUMNS) * CELL_H,
      url: pngDataUrl(heatmapPng(image.data, IMAGE_SIZE, IMAGE_SIZE, { colormap: 'gray_r', min: 0, max: 1 })),
      head: loc.t('beyond.mistakes.figures.tile_head', { rank: m.rank, index: m.index }),
      truth: classNames[m.label],
      guess: loc.t('beyond.mistakes.figures.tile_guess', { predicted: classNames[m.prediction] }),
      probability: loc.fmt.pct(m.probability, 1),
    };
  });
  const rows = Math.max(1, Math.ceil(tiles.length / COLUMNS));
  const position = {
    x: { field: 'x', type: 'quantitative' as const, scale: null },
    y: { field: 'y', type: 'quantitative' as const, scale: null },
  };
  const text = (field: string, dy: number, color: string) => ({
    mark: { type: 'text' as const, align: 'left' as const, baseline: 'top' as const, dy, fontSize: 11, color, limit: CELL_W - 4, aria: false },
    encoding: { ...position, text: { field, type: 'nominal' as const } },
  });
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: { text: loc.t('beyond.mistakes.figures.grid_title', { n: tiles.length }), subtitle: loc.t('beyond.mistakes.figures.grid_subtitle') },
    config: CONFIG,
    width: COLUMNS * CELL_W - 36,
    height: rows * CELL_H - 6,
    data: { values: tiles },
    layer: [
      {
        // Pixels stay square (imshow's look); aria off: a label would repeat the whole data URL.
        mark: { type: 'image', width: size, height: size, aspect: false, align: 'left', baseline: 'top', smooth: false, aria: false },
        encoding: { ...position, url: { field: 'url', type: 'nominal' } },
      },
      text('head', size + 3, '#666'),
      text('truth', size + 17, '#222'),
      text('guess', size + 31, '#b2182b'),
      text('probability', size + 45, '#b2182b'),
    ],
  };
  return { name: 'mistakes', kind: 'mistakes', title: loc.t('beyond.mistakes.figures.grid_entry', { n: tiles.length, images: loc.fmt.int(index.test_images) }), spec };
}

/** The map's plot area in screen pixels (the raster is drawn at this size: one image pixel per screen pixel). */
const MAP_SIZE = 440;

/** Vega's `tableau10`, the colours of the legend; the raster's dots take the same. */
function classColors(): string[] {
  return vega.scheme('tableau10') as string[];
}

const rgbOf = (hex: string): [number, number, number] => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16)) as [number, number, number];

/** The data range of one axis with a margin of 3% each side, rounded as the spec stores it. */
function paddedDomain(coords: Float32Array, axis: 0 | 1): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = axis; i < coords.length; i += 2) {
    lo = Math.min(lo, coords[i]);
    hi = Math.max(hi, coords[i]);
  }
  const pad = (hi - lo) * 0.03 || 1;
  return [roundSignificant(lo - pad), roundSignificant(hi + pad)];
}

/** Each predicted image's class: the first largest probability (as the step decided it). */
function predictions(p: NpyArray): Int32Array {
  const [n, classes] = p.shape;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p.data[i * classes + c] > p.data[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

function mapFigure(inputs: MistakesFigureInputs, coords: NpyArray): FigureSpecOf<'mistakes-map'> {
  const { index, classNames, locale: loc } = inputs;
  const map = index.map!;
  const n = coords.shape[0];
  const labels = inputs.labels.data.subarray(0, n);
  const predicted = predictions(inputs.probabilities);
  const xDomain = paddedDomain(coords.data, 0);
  const yDomain = paddedDomain(coords.data, 1);
  const colors = classColors();
  const png = scatterPng({
    coords: coords.data,
    groups: labels,
    colors: colors.map(rgbOf),
    marked: Array.from(labels, (label, i) => predicted[i] !== label),
    xDomain,
    yDomain,
    width: MAP_SIZE,
    height: MAP_SIZE,
    radius: 1.6,
    ringRadius: 2.7,
    opacity: 0.7,
    // Light rings: where the mistakes crowd, the classes' colours still show through.
    ringOpacity: 0.55,
  });
  const x = { field: 'x', type: 'quantitative' as const, scale: { domain: xDomain, nice: false, zero: false }, axis: null };
  const y = { field: 'y', type: 'quantitative' as const, scale: { domain: yDomain, nice: false, zero: false }, axis: null };
  // The most confident mistakes (the grid's), ringed in red: where the model was surest and wrong.
  const ranked = index.top.filter((m) => m.index < n).map((m) => ({ x: roundSignificant(coords.data[m.index * 2]), y: roundSignificant(coords.data[m.index * 2 + 1]) }));
  // One invisible point per class: what the colour legend is made from.
  const legend = classNames.map((name) => ({ class_name: name, x: xDomain[0], y: yDomain[0] }));
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: {
      text: loc.t('beyond.mistakes.figures.map_title', { layer: map.layer, points: loc.fmt.int(map.points) }),
      // Two short lines: one long line would widen the figure past the plot and its legend.
      subtitle: [loc.t('beyond.mistakes.figures.map_subtitle'), loc.t('beyond.mistakes.figures.map_subtitle_top')],
    },
    config: CONFIG,
    width: MAP_SIZE,
    height: MAP_SIZE,
    layer: [
      {
        data: { values: [{ x: xDomain[0], y: yDomain[1], url: pngDataUrl(png) }] },
        mark: { type: 'image', width: MAP_SIZE, height: MAP_SIZE, aspect: false, align: 'left', baseline: 'top', aria: false },
        encoding: { x, y, url: { field: 'url', type: 'nominal' } },
      },
      {
        data: { values: legend },
        mark: { type: 'point', filled: true, opacity: 0, aria: false },
        encoding: {
          x,
          y,
          color: {
            field: 'class_name',
            type: 'nominal',
            title: loc.t('beyond.mistakes.figures.legend'),
            scale: { domain: [...classNames], range: colors },
            legend: { symbolOpacity: 1, symbolType: 'circle' },
          },
        },
      },
      {
        data: { values: ranked },
        mark: { type: 'point', shape: 'circle', size: 90, filled: false, color: '#b2182b', strokeWidth: 1.5, aria: false },
        encoding: { x, y },
      },
    ],
  };
  return { name: 'mistakes-map', kind: 'mistakes-map', title: loc.t('beyond.mistakes.figures.map_entry', { layer: map.layer, points: loc.fmt.int(map.points) }), spec };
}

export function mistakesFigures(inputs: MistakesFigureInputs): FigureSpecOf<MistakesFigureKind>[] {
  const out: FigureSpecOf<MistakesFigureKind>[] = [];
  if (inputs.index.top.length > 0) out.push(mistakesGrid(inputs));
  if (inputs.coords) out.push(mapFigure(inputs, inputs.coords));
  return out;
}
