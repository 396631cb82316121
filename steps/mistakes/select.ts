/** The mistakes among predicted test images: which, how confident, and between which classes. */

export interface Scored {
  index: number;
  label: number;
  prediction: number;
  /** the model's output for `prediction` */
  probability: number;
}

export interface MistakeSummary {
  /** every image whose prediction is not its label, by probability descending, then index */
  ranked: Scored[];
  /** confusion[true][predicted] counted over the mistakes only (the diagonal stays 0) */
  confusion: number[][];
}

/**
 * `probabilities` is count x classes (row-major), `labels` one class per image. The prediction is
 * the first largest output (numpy's argmax).
 */
export function findMistakes(probabilities: Float32Array, classes: number, labels: ArrayLike<number>): MistakeSummary {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const ranked: Scored[] = [];
  for (let i = 0; i < labels.length; i++) {
    let prediction = 0;
    for (let c = 1; c < classes; c++) if (probabilities[i * classes + c] > probabilities[i * classes + prediction]) prediction = c;
    if (prediction === labels[i]) continue;
    confusion[labels[i]][prediction]++;
    ranked.push({ index: i, label: labels[i], prediction, probability: probabilities[i * classes + prediction] });
  }
  // Ties (probabilities that round to the same float32, e.g. 1.0) in test-set order: the same list every run.
  ranked.sort((a, b) => b.probability - a.probability || a.index - b.index);
  return { ranked, confusion };
}
