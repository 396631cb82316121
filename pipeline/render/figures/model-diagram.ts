/** The layer stack from input to output: one box per layer, its width growing with the layer's output size. */
import type { TopLevelSpec } from 'vega-lite';
import type { ModelSummary } from '../../catalog/model-summary.js';
import { localeOf, type Locale } from '../locale.js';
import { CONFIG, SCHEMA, shapeText } from './common.js';

export interface DiagramBox {
  name: string;
  type: string;
  shape: string;
  params: number;
  label: string;
  x: number;
  x2: number;
  y: number;
  y2: number;
  /** middle of the box, where its label goes */
  ym: number;
}

const BOX_H = 26;
const STEP = 40;
const CENTER = 120;
/** pixels per decade of output values: 28 x 28 x 32 (25,088) gets 220 px, 10 classes 50 px */
const PER_DECADE = 50;

export function diagramBoxes(summary: ModelSummary, loc: Locale = localeOf('en')): DiagramBox[] {
  const rows = [
    { name: loc.t('figures.input_panel'), type: loc.t('figures.model.input_type'), output_shape: summary.input_shape, params: 0 },
    ...summary.layers.map((l) => ({ name: l.name, type: l.type, output_shape: l.output_shape, params: l.params })),
  ];
  return rows.map((r, i) => {
    const size = r.output_shape.reduce((a, b) => a * b, 1);
    const half = Math.round((PER_DECADE * Math.max(1, Math.log10(Math.max(size, 1)))) / 2);
    const shape = shapeText(r.output_shape);
    const params = r.params > 0 ? loc.t('figures.model.params', { n: loc.fmt.int(r.params) }) : '';
    return {
      name: r.name,
      type: r.type,
      shape,
      params: r.params,
      label: `${r.name} (${r.type})  ${shape}${params}`,
      x: CENTER - half,
      x2: CENTER + half,
      y: i * STEP,
      y2: i * STEP + BOX_H,
      ym: i * STEP + BOX_H / 2,
    };
  });
}

export function modelDiagramSpec(summary: ModelSummary, loc: Locale = localeOf('en')): TopLevelSpec {
  const boxes = diagramBoxes(summary, loc);
  const links = boxes.slice(1).map((b, i) => ({ x: CENTER, y: boxes[i].y2, y2: b.y }));
  const px = (field: string) => ({ field, type: 'quantitative' as const, scale: null });
  return {
    $schema: SCHEMA,
    title: loc.t('figures.model.title', { layers: summary.layers.length, params: loc.fmt.int(summary.total_params) }),
    config: CONFIG,
    width: 2 * CENTER + 330,
    height: boxes[boxes.length - 1].y2,
    layer: [
      { data: { values: links }, mark: { type: 'rule', color: '#888' }, encoding: { x: px('x'), y: px('y'), y2: { field: 'y2' } } },
      {
        data: { values: boxes },
        layer: [
          {
            mark: { type: 'rect', cornerRadius: 3 },
            encoding: {
              x: px('x'),
              x2: { field: 'x2' },
              y: px('y'),
              y2: { field: 'y2' },
              color: { field: 'type', type: 'nominal', title: loc.t('figures.model.layer_type'), scale: { scheme: 'tableau10' }, sort: null },
            },
          },
          {
            mark: { type: 'text', align: 'left', baseline: 'middle', dx: 8, fontSize: 11 },
            encoding: { x: { value: 2 * CENTER }, y: px('ym'), text: { field: 'label' } },
          },
        ],
      },
    ],
  };
}
