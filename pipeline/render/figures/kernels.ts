/**
 * Conv kernels as grids of small heatmaps, as the chapter draws conv2d's 32 kernels (2 x 16 cells
 * of 3 x 3, vmin -0.5, vmax 0.5, viridis). Panels (trained, untrained) share one colour scale and
 * one legend, so their spreads compare at a glance.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { NpyArray } from '../../catalog/npy.js';
import type { WeightStats } from '../../catalog/schema.js';
import { localeOf, type Locale } from '../locale.js';
import { CONFIG, roundSignificant, SCHEMA } from './common.js';

/** The chapter's fixed colour range for conv2d's kernels (vmin, vmax). */
export const KERNEL_DOMAIN: [number, number] = [-0.5, 0.5];

/** Conv layers (4-D kernels) of the weight statistics, in model order. */
export function convLayers(stats: WeightStats): string[] {
  return Object.keys(stats.trained).filter((l) => stats.trained[l].kernel.shape.length === 4);
}

/** Kernels of one panel: `values` is C-order [kh, kw, filters]. */
export interface KernelPanel {
  label: string;
  values: Float32Array;
  kh: number;
  kw: number;
  filters: number;
}

export interface KernelCell {
  panel: string;
  filter: number;
  /** row and column inside the kernel */
  i: number;
  j: number;
  value: number;
  /** pixel box of the cell */
  x: number;
  x2: number;
  y: number;
  y2: number;
}

function checkKernel(kernel: NpyArray, what: string): [number, number, number, number] {
  if (kernel.shape.length !== 4) throw new Error(`${what}: expected a conv kernel [kh, kw, in, out], got shape [${kernel.shape.join(', ')}]`);
  return kernel.shape as [number, number, number, number];
}

/** The kernels' slice for one input channel: [kh, kw, in, out] -> [kh, kw, out] (the chapter's `conv_weights[:, :, 0, i]`). */
export function inputChannelSlice(kernel: NpyArray, channel: number, label: string): KernelPanel {
  const [kh, kw, cin, cout] = checkKernel(kernel, label);
  const values = new Float32Array(kh * kw * cout);
  for (let p = 0; p < kh * kw; p++) {
    for (let k = 0; k < cout; k++) values[p * cout + k] = kernel.data[(p * cin + channel) * cout + k];
  }
  return { label, values, kh, kw, filters: cout };
}

/** Per output filter, the mean over input channels: [kh, kw, in, out] -> [kh, kw, out]. */
export function meanOverInputs(kernel: NpyArray, label: string): KernelPanel {
  const [kh, kw, cin, cout] = checkKernel(kernel, label);
  const values = new Float32Array(kh * kw * cout);
  for (let p = 0; p < kh * kw; p++) {
    for (let k = 0; k < cout; k++) {
      let sum = 0;
      for (let c = 0; c < cin; c++) sum += kernel.data[(p * cin + c) * cout + k];
      values[p * cout + k] = sum / cin;
    }
  }
  return { label, values, kh, kw, filters: cout };
}

/** The largest |value| of the panels, for a colour range symmetric around 0. */
export function symmetricLimit(panels: KernelPanel[]): number {
  let m = 0;
  for (const p of panels) for (const v of p.values) m = Math.max(m, Math.abs(v));
  return m;
}

export interface KernelGridOptions {
  title: string;
  /** kernels per grid row (16 for the chapter's 2 x 16) */
  cols: number;
  /** fixed colour range: values outside it take the end colours, as imshow's vmin/vmax */
  domain: [number, number];
  /** pixels per kernel cell */
  cell?: number;
  gap?: number;
  /** panels stacked (the chapter's wide 2 x 16 grids) or side by side (square grids) */
  direction?: 'row' | 'column';
}

export function kernelCells(panel: KernelPanel, cols: number, cell: number, gap: number): KernelCell[] {
  const { kh, kw, filters } = panel;
  const cells: KernelCell[] = [];
  for (let k = 0; k < filters; k++) {
    const ox = (k % cols) * (kw * cell + gap);
    const oy = Math.floor(k / cols) * (kh * cell + gap);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const x = ox + j * cell;
        const y = oy + i * cell;
        cells.push({ panel: panel.label, filter: k, i, j, value: roundSignificant(panel.values[(i * kw + j) * filters + k]), x, x2: x + cell, y, y2: y + cell });
      }
    }
  }
  return cells;
}

export function kernelGridSpec(panels: KernelPanel[], opts: KernelGridOptions, loc: Locale = localeOf('en')): TopLevelSpec {
  const cell = opts.cell ?? 12;
  const gap = opts.gap ?? 6;
  const panel = (p: KernelPanel) => {
    const rows = Math.ceil(p.filters / opts.cols);
    return {
      title: { text: p.label, fontSize: 12, fontWeight: 'normal' as const },
      width: opts.cols * (p.kw * cell + gap) - gap,
      height: rows * (p.kh * cell + gap) - gap,
      data: { values: kernelCells(p, opts.cols, cell, gap) },
      // aria off: a label per cell would double the SVG for no reader.
      mark: { type: 'rect' as const, aria: false },
      encoding: {
        x: { field: 'x', type: 'quantitative' as const, scale: null },
        x2: { field: 'x2' },
        y: { field: 'y', type: 'quantitative' as const, scale: null },
        y2: { field: 'y2' },
        color: {
          field: 'value',
          type: 'quantitative' as const,
          title: loc.t('figures.weight'),
          scale: { scheme: 'viridis', domain: opts.domain.map((v) => roundSignificant(v)), clamp: true },
          legend: { gradientLength: 120, format: '.2f' },
        },
      },
    };
  };
  const specs = panels.map(panel);
  return {
    $schema: SCHEMA,
    title: opts.title,
    config: CONFIG,
    ...(opts.direction === 'row' ? { hconcat: specs } : { vconcat: specs }),
    resolve: { scale: { color: 'shared' }, legend: { color: 'shared' } },
  };
}

/**
 * Two kernels of one layer as the chapter draws them: a layer on one input channel (conv2d) as its
 * kernels on the fixed range -0.5..0.5, a deeper layer as per-filter means over its inputs on a
 * range symmetric around 0 that both panels share.
 */
export function bookKernelPanels(a: NpyArray, b: NpyArray, labels: [string, string]): { panels: [KernelPanel, KernelPanel]; domain: [number, number]; averaged: boolean } {
  const [, , cin] = checkKernel(a, labels[0]);
  if (cin === 1) return { panels: [inputChannelSlice(a, 0, labels[0]), inputChannelSlice(b, 0, labels[1])], domain: KERNEL_DOMAIN, averaged: false };
  const panels: [KernelPanel, KernelPanel] = [meanOverInputs(a, labels[0]), meanOverInputs(b, labels[1])];
  const limit = symmetricLimit(panels);
  return { panels, domain: [-limit, limit], averaged: true };
}

export interface KernelPairsOptions {
  title: string;
  /** pairs per grid row */
  cols: number;
  domain: [number, number];
  cell?: number;
}

/**
 * Matched kernels of two runs: per filter i, A's kernel i above B's kernel matched to it (`b` is
 * already in A's order), with the pair's similarity printed below. `labels` name the two rows.
 */
export function kernelPairsSpec(a: KernelPanel, b: KernelPanel, similarity: number[], labels: [string, string], opts: KernelPairsOptions, loc: Locale = localeOf('en')): TopLevelSpec {
  if (a.filters !== b.filters || a.kh !== b.kh || a.kw !== b.kw || similarity.length !== a.filters) {
    throw new Error(`kernelPairsSpec: panels of ${a.filters} and ${b.filters} filters with ${similarity.length} similarities do not pair up`);
  }
  const cell = opts.cell ?? 10;
  const gap = 8;
  const kernelH = a.kh * cell;
  const labelW = 16;
  const textH = 12;
  const blockW = a.kw * cell + gap;
  const blockH = 2 * kernelH + 2 + textH + gap;
  const rows = Math.ceil(a.filters / opts.cols);
  // kernelCells lays filters out on a grid of `cols`; re-anchor each cell into its pair's block.
  const place = (p: KernelPanel, row: 0 | 1) =>
    kernelCells(p, opts.cols, cell, gap).map((c) => {
      const ox = labelW + (c.filter % opts.cols) * blockW;
      const oy = Math.floor(c.filter / opts.cols) * blockH + row * (kernelH + 2);
      return { ...c, x: ox + c.j * cell, x2: ox + (c.j + 1) * cell, y: oy + c.i * cell, y2: oy + (c.i + 1) * cell };
    });
  const texts = similarity.map((s, k) => ({
    text: s.toFixed(2),
    x: labelW + (k % opts.cols) * blockW + (a.kw * cell) / 2,
    y: Math.floor(k / opts.cols) * blockH + 2 * kernelH + 3,
  }));
  const rowLabels = Array.from({ length: rows }, (_, r) => [
    { text: labels[0], x: 0, y: r * blockH + kernelH / 2 - 6 },
    { text: labels[1], x: 0, y: r * blockH + kernelH + 2 + kernelH / 2 - 6 },
  ]).flat();
  const px = (field: string) => ({ field, type: 'quantitative' as const, scale: null });
  return {
    $schema: SCHEMA,
    title: opts.title,
    config: CONFIG,
    width: labelW + opts.cols * blockW - gap,
    height: rows * blockH - gap,
    layer: [
      {
        data: { values: [...place(a, 0), ...place(b, 1)] },
        mark: { type: 'rect', aria: false },
        encoding: {
          x: px('x'),
          x2: { field: 'x2' },
          y: px('y'),
          y2: { field: 'y2' },
          color: {
            field: 'value',
            type: 'quantitative',
            title: loc.t('figures.weight'),
            scale: { scheme: 'viridis', domain: opts.domain.map((v) => roundSignificant(v)), clamp: true },
            legend: { gradientLength: 120, format: '.2f' },
          },
        },
      },
      {
        data: { values: texts },
        mark: { type: 'text', align: 'center', baseline: 'top', fontSize: 9, color: '#333', aria: false },
        encoding: { x: px('x'), y: px('y'), text: { field: 'text' } },
      },
      {
        data: { values: rowLabels },
        mark: { type: 'text', align: 'left', baseline: 'top', fontSize: 11, fontWeight: 'bold', color: '#333', aria: false },
        encoding: { x: px('x'), y: px('y'), text: { field: 'text' } },
      },
    ],
  };
}
