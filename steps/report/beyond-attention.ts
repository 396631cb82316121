/** The report's "where it looks" part (beyond the chapter): Grad-CAM and saliency of the samples, from attention/index.json. */
import type { AttentionIndex, AttentionSample, FigureIndex } from '../../pipeline/catalog/schema.js';

const mean = (xs: (number | null)[]) => {
  const known = xs.filter((x): x is number => x !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
};

/** `beyond.attention` of the report's context: data only; null fields where the model has no conv layer. */
export function attentionSection(index: AttentionIndex, figures: FigureIndex, names: readonly string[]) {
  const describe = (s: AttentionSample) => ({
    id: s.id,
    split: s.split,
    index: s.index,
    label: names[s.label] ?? s.class_name,
    predicted: names[s.prediction] ?? String(s.prediction),
    probability: s.probability,
    right: s.prediction === s.label,
    object_share: s.object_share,
    cam_on_object: s.cam_on_object,
    figure: figures.figures.find((f) => f.kind === 'attention' && f.sample === s.id)?.name,
  });
  const [chapter, ...classes] = index.samples.map(describe);
  return {
    layer: index.layer,
    score: index.score,
    chapter: chapter ?? null,
    classes,
    classes_right: classes.filter((c) => c.right).length,
    mean_object_share: mean(classes.map((c) => c.object_share)),
    /** over the class samples whose Grad-CAM is not zero everywhere */
    mean_cam_on_object: mean(classes.map((c) => c.cam_on_object)),
    flat: classes.filter((c) => c.cam_on_object === null).length,
  };
}
