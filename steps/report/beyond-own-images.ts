/** The report's "your own pictures" part (beyond the chapter), from own-images/index.json. */
import type { FigureEntry, FigureIndex, OwnImage, OwnImagesIndex } from '../../pipeline/catalog/schema.js';

const figureOf = (figures: FigureIndex, kind: FigureEntry['kind'], sample: string) => figures.figures.find((f) => f.kind === kind && f.sample === sample)?.name ?? null;

/** The two most probable classes, best first. */
function topTwo(probabilities: number[]): [number, number] {
  const order = probabilities.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return [order[0][1], order[1][1]];
}

/** `beyond.own_images` of the report's context: data only. `none` when the run has no pictures (no --image). */
export function ownImagesSection(index: OwnImagesIndex, figures: FigureIndex, names: readonly string[]) {
  const describe = (img: OwnImage) => {
    const [first, second] = topTwo(img.probabilities);
    const { conversion: c } = img;
    return {
      id: img.id,
      name: img.source.name,
      file: img.source.file,
      format: img.source.format,
      // As shown: EXIF orientations 5-8 turn the stored picture by 90 degrees.
      width: img.source.orientation >= 5 ? img.source.height : img.source.width,
      height: img.source.orientation >= 5 ? img.source.width : img.source.height,
      background: Math.round(c.background),
      inverted: c.inverted,
      blank: c.box === null,
      box: c.box,
      fitted: c.fitted,
      prediction: img.prediction,
      predicted: names[first] ?? String(first),
      probability: img.probabilities[first],
      second: names[second] ?? String(second),
      second_probability: img.probabilities[second],
      layer: img.attention?.layer ?? null,
      strip: figureOf(figures, 'own-image', img.id),
      prediction_figure: figureOf(figures, 'own-image-prediction', img.id),
      maps_figure: figureOf(figures, 'own-image-maps', img.id),
    };
  };
  return {
    none: index.images.length === 0,
    // Only a model that ran on a picture tells: without pictures nothing was loaded.
    no_conv: index.has_conv === false,
    images: index.images.map(describe),
  };
}
