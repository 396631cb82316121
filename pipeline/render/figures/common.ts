/** What every figure spec shares: the schema, the look, and numbers rounded for readable specs. */
import type { Config } from 'vega-lite';

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Plain look, readable when the SVG is shrunk to a phone's width. */
export const CONFIG: Config = {
  font: 'DejaVu Sans, Verdana, sans-serif',
  view: { stroke: null },
  title: { fontSize: 14, anchor: 'start', offset: 8 },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridOpacity: 0.5 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  concat: { spacing: 24 },
};

/** Six significant digits: float32 values carry about seven, and specs stay short. */
export function roundSignificant(v: number, digits = 6): number {
  return Number.isFinite(v) ? Number(v.toPrecision(digits)) : v;
}

/** "28 × 28 × 32" */
export function shapeText(shape: number[]): string {
  return shape.join(' × ');
}
