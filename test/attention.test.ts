/**
 * Where the network looks (pipeline/ml/grad-cam.ts, steps/attention.ts): Grad-CAM of the book's own
 * trained model (the Keras 3 fixture, imported in-process) lies on the chapter's ankle boot; its
 * channel weights and its map equal a computation by hand with tf ops, and finite differences of
 * the class score; saliency is the input gradient computed through the whole model; a dense
 * network has no Grad-CAM; and the suite's tiny run holds the step's files, its figures and its
 * report section.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { loadFashionMnist, PIXELS, type ImageSet } from '../pipeline/catalog/dataset.js';
import { importModel } from '../pipeline/catalog/keras/index.js';
import { readNpy } from '../pipeline/catalog/npy.js';
import { pickSamples, type Sample } from '../pipeline/catalog/samples.js';
import type { FeatureIndex, FigureIndex, Metrics } from '../pipeline/catalog/schema.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { explain, type Attention } from '../pipeline/ml/grad-cam.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { STEP_NAMES } from '../steps/index.js';
import { readJson } from './helpers.js';
import { datasetDir } from './helpers/fixture-run.js';

const BOOK = fileURLToPath(new URL('./fixtures/keras/book-keras-3.4.1.keras', import.meta.url));
const EXPECTED = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/keras/expected.json', import.meta.url)), 'utf8')) as Record<string, { test_probs_0_9: number[][] }>;
const ANKLE_BOOT = 9;

let data: { train: ImageSet; test: ImageSet };
let model: tf.LayersModel;
let samples: Sample[];
let explained: Attention[];
let seconds: number;

beforeAll(async () => {
  await initTf('wasm');
  data = await loadFashionMnist(datasetDir());
  ({ model } = await importModel(BOOK));
  samples = pickSamples(data);
  const started = performance.now();
  explained = explain(model, samples.map((s) => s.pixels))!;
  seconds = (performance.now() - started) / 1000;
});

const max = (xs: ArrayLike<number>) => Array.from(xs).reduce((m, v) => Math.max(m, v), -Infinity);
const weights = (layer: string) => model.getLayer(layer).getWeights();
const share = (mask: (p: number) => boolean, map: ArrayLike<number>) => {
  let inside = 0;
  let total = 0;
  for (let p = 0; p < map.length; p++) {
    total += map[p];
    if (mask(p)) inside += map[p];
  }
  return inside / total;
};

/** conv2d_1's output for one image, computed from the layers' kernels and biases (not through the model). */
function convOutput(image: Float32Array): tf.Tensor4D {
  return tf.tidy(() => {
    const [k1, b1] = weights('conv2d');
    const [k2, b2] = weights('conv2d_1');
    const x = tf.tensor4d(image, [1, 28, 28, 1]);
    const c1 = tf.relu(tf.add(tf.conv2d(x, k1 as tf.Tensor4D, 1, 'same'), b1)) as tf.Tensor4D;
    return tf.relu(tf.add(tf.conv2d(tf.maxPool(c1, 2, 2, 'valid'), k2 as tf.Tensor4D, 1, 'same'), b2)) as tf.Tensor4D;
  });
}

/** The book's head after conv2d_1, by hand: pool, flatten, dense + relu, dense_1 before its softmax; then class c's log-odds. */
function logOdds(conv: tf.Tensor4D, c: number): number {
  return tf.tidy(() => {
    const [wd, bd] = weights('dense');
    const [wo, bo] = weights('dense_1');
    const flat = tf.maxPool(conv, 2, 2, 'valid').reshape([1, -1]) as tf.Tensor2D;
    const z = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(flat, wd as tf.Tensor2D), bd)) as tf.Tensor2D, wo as tf.Tensor2D), bo).arraySync() as number[][];
    const others = z[0].filter((_, j) => j !== c);
    const top = Math.max(...others);
    return z[0][c] - (top + Math.log(others.reduce((s, v) => s + Math.exp(v - top), 0)));
  });
}

describe("Grad-CAM and saliency of the book's model (Keras 3.4.1 fixture)", () => {
  it('explains the chapter sample and each class sample with the model own prediction, and leaks no tensor', () => {
    console.log(`explain: ${samples.length} images in ${seconds.toFixed(2)} s (first call, wasm)`);
    expect(explained).toHaveLength(11);
    const boot = explained[0];
    expect(samples[0].id).toBe('train-0');
    expect(boot.layer).toBe('conv2d_1');
    expect(boot.score).toBe('log-odds');
    expect(boot.predicted).toBe(ANKLE_BOOT);
    expect(boot.classIndex).toBe(ANKLE_BOOT);
    const direct = tf.tidy(() => (model.predict(tf.tensor4d(samples[0].pixels, [1, 28, 28, 1])) as tf.Tensor).arraySync() as number[][])[0];
    console.log(`train-0: predicted ${boot.predicted} with probability ${boot.probabilities[ANKLE_BOOT]}`);
    boot.probabilities.forEach((p, k) => expect(Math.abs(p - direct[k]), `class ${k}`).toBeLessThanOrEqual(1e-6));
    expect(boot.probabilities[ANKLE_BOOT]).toBeGreaterThan(0.999);
    // test image 0 is the first ankle boot of the test set: the PyTorch reference's probabilities
    const test0 = samples.findIndex((s) => s.id === 'test-0');
    EXPECTED['book-keras-3.4.1.keras'].test_probs_0_9[0].forEach((p, k) => expect(Math.abs(explained[test0].probabilities[k] - p), `class ${k}`).toBeLessThanOrEqual(1e-5));
    for (const [i, a] of explained.entries()) {
      expect(a.predicted, samples[i].id).toBe(a.probabilities.indexOf(max(a.probabilities)));
      expect(a.cam).toHaveLength(PIXELS);
      expect(a.saliency).toHaveLength(PIXELS);
      expect(a.weights).toHaveLength(64);
    }
    const before = tf.memory().numTensors;
    const again = explain(model, samples.map((s) => s.pixels))!;
    expect(tf.memory().numTensors).toBe(before);
    // Same input, same bytes.
    again.forEach((a, i) => expect(Buffer.from(a.cam.buffer).equals(Buffer.from(explained[i].cam.buffer))).toBe(true));
  });

  it("puts Grad-CAM's mass on the ankle boot: its share on the boot's pixels is at least the boot's share of the image + 0.2", () => {
    const image = samples[0].pixels;
    // The boot: every pixel above 0 (Fashion-MNIST's background is exactly 0).
    const onBoot = (p: number) => image[p] > 0;
    const bootShare = image.filter((v) => v > 0).length / PIXELS;
    const cam = explained[0].cam;
    const camShare = share(onBoot, cam);
    console.log(`ankle boot: covers ${bootShare.toFixed(3)} of the image; Grad-CAM mass on it ${camShare.toFixed(3)}`);
    expect(bootShare).toBeGreaterThan(0.5);
    expect(bootShare).toBeLessThan(0.6);
    expect(max(cam)).toBe(1);
    expect(Math.min(...cam)).toBe(0);
    expect(camShare).toBeGreaterThanOrEqual(bootShare + 0.2);
  });

  it("its channel weights are the log-odds' gradient w.r.t. conv2d_1's output averaged over space (finite differences on a hand-built head), and its map their weighted, relu'd, bilinearly upsampled sum", () => {
    const { pixels } = samples[0];
    const a = explained[0];
    const conv = convOutput(pixels);
    const [, h, w, channels] = conv.shape;
    expect([h, w, channels]).toEqual([14, 14, 64]);
    // Shifting one whole channel by eps changes the score by eps times the sum of its gradient,
    // i.e. h * w times the channel's Grad-CAM weight (max pooling passes a uniform shift through as it is).
    const shifted = (k: number, eps: number) => tf.tidy(() => tf.add(conv, tf.oneHot([k], channels).reshape([1, 1, 1, channels]).mul(eps)) as tf.Tensor4D);
    const byMagnitude = Array.from(a.weights.keys()).sort((x, y) => Math.abs(a.weights[y]) - Math.abs(a.weights[x]));
    const eps = 1e-2;
    for (const k of [...byMagnitude.slice(0, 4), byMagnitude[32]]) {
      const [up, down] = [shifted(k, eps), shifted(k, -eps)];
      const fd = (logOdds(up, ANKLE_BOOT) - logOdds(down, ANKLE_BOOT)) / (2 * eps) / (h * w);
      tf.dispose([up, down]);
      expect(Math.abs(fd - a.weights[k]), `channel ${k}: finite difference ${fd}, Grad-CAM weight ${a.weights[k]}`).toBeLessThanOrEqual(0.02 * Math.abs(a.weights[byMagnitude[0]]));
    }
    // The map from those weights, upsampled by TensorFlow's own bilinear resize with half-pixel centres.
    const cam = tf.tidy(() => {
      const raw = tf.relu(tf.sum(tf.mul(conv, tf.tensor1d(a.weights)), 3)).reshape([1, h, w, 1]) as tf.Tensor4D;
      const up = tf.image.resizeBilinear(raw, [28, 28], false, true);
      return up.div(up.max()).dataSync() as Float32Array;
    });
    conv.dispose();
    let worst = 0;
    for (let p = 0; p < PIXELS; p++) worst = Math.max(worst, Math.abs(cam[p] - a.cam[p]));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it("saliency is |d log-odds / d pixel| through the whole model (softmax included), scaled to [0, 1]: zero exactly where that gradient is; finite differences agree on the garment's most salient pixels", () => {
    const { pixels } = samples[0];
    const a = explained[0];
    const c = ANKLE_BOOT;
    // log p_c - log(sum of the other p_j) from the model's own softmax output.
    const score = (x: tf.Tensor) => {
      const p = model.apply(x, { training: false }) as tf.Tensor2D;
      const mask = tf.oneHot([c], 10);
      return tf.sub(tf.log(tf.sum(tf.mul(p, mask))), tf.log(tf.sum(tf.mul(p, tf.sub(1, mask)))));
    };
    const gradient = tf.tidy(() => tf.grad(score)(tf.tensor4d(pixels, [1, 28, 28, 1])).dataSync() as Float32Array);
    const top = max(gradient.map(Math.abs));
    expect(a.saliency).toHaveLength(PIXELS);
    expect(max(a.saliency)).toBe(1);
    let worst = 0;
    for (let p = 0; p < PIXELS; p++) {
      expect(a.saliency[p] >= 0 && a.saliency[p] <= 1, `pixel ${p}`).toBe(true);
      expect(a.saliency[p] === 0, `pixel ${p}: saliency ${a.saliency[p]}, gradient ${gradient[p]}`).toBe(gradient[p] === 0);
      worst = Math.max(worst, Math.abs(a.saliency[p] - Math.abs(gradient[p]) / top));
    }
    expect(worst).toBeLessThanOrEqual(1e-3);

    // Finite differences on the garment's most salient pixels. A background pixel is 0, where the
    // conv layers' relus sit at their kink (pre-activation = bias), so its two one-sided
    // derivatives differ and a central difference agrees with neither.
    const onGarment = Array.from(a.saliency.keys()).filter((p) => pixels[p] > 0).sort((x, y) => a.saliency[y] - a.saliency[x]);
    for (const at of onGarment.slice(0, 3)) {
      const nudged = (d: number) =>
        tf.tidy(() => {
          const x = Float32Array.from(pixels);
          x[at] += d;
          return score(tf.tensor4d(x, [1, 28, 28, 1])).dataSync()[0];
        });
      const eps = 3e-3;
      const fd = (nudged(eps) - nudged(-eps)) / (2 * eps);
      console.log(`saliency at pixel ${at} (value ${pixels[at].toFixed(3)}): ${a.saliency[at].toFixed(3)}; gradient ${gradient[at]}, finite difference ${fd}`);
      expect(Math.abs(fd - gradient[at]), `pixel ${at}`).toBeLessThanOrEqual(0.01 * Math.abs(gradient[at]));
    }
  });

  it('a dense network (no conv layer) gets no Grad-CAM: explain returns null', () => {
    const net = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28, 1] }),
        tf.layers.dense({ units: 100, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    expect(explain(net, [samples[0].pixels])).toBeNull();
    net.dispose();
  });
});

describe("the attention step in the suite's tiny run", () => {
  let tiny: RunStore;
  beforeAll(() => {
    tiny = RunStore.at(inject('tinyRun'));
  });

  it('runs after feature-maps and before figures', () => {
    const at = STEP_NAMES.indexOf('attention');
    expect(at).toBeGreaterThan(STEP_NAMES.indexOf('feature-maps'));
    expect(at).toBeLessThan(STEP_NAMES.indexOf('figures'));
  });

  it("writes each sample's image, Grad-CAM and saliency as [28, 28] .npy in [0, 1], and an index consistent with the checkpoint's probabilities and its own maps", async () => {
    const index = await tiny.attention.index.read();
    const features = await readJson<FeatureIndex>(tiny.featureMaps.index.path);
    const metrics = await readJson<Metrics>(tiny.metrics.path);
    const manifest = await readJson<{ steps: Record<string, { seconds: number }> }>(tiny.runJson);
    console.log(`tiny run: attention step ${manifest.steps.attention.seconds} s`);
    expect(index.layer).toBe('conv2d_1');
    expect(index.score).toBe('log-odds');
    expect(index.samples.map((s) => s.id)).toEqual(features.samples.map((s) => s.id));
    let compared = 0;
    for (const [i, s] of index.samples.entries()) {
      const f = features.samples[i];
      expect({ split: s.split, index: s.index, label: s.label, class_name: s.class_name }).toEqual({ split: f.split, index: f.index, label: f.label, class_name: f.class_name });
      expect(s.prediction).toBe(s.probabilities.indexOf(max(s.probabilities)));
      expect(s.probability).toBe(s.probabilities[s.prediction]);
      s.probabilities.forEach((p, k) => expect(Math.abs(p - f.probabilities[k]), `${s.id} class ${k}`).toBeLessThanOrEqual(1e-6));
      const first = metrics.first_test_probabilities?.[s.index];
      if (s.split === 'test' && first) {
        first.forEach((p, k) => expect(Math.abs(p - s.probabilities[k]), `${s.id} class ${k}`).toBeLessThanOrEqual(1e-5));
        compared++;
      }
      expect([s.image, s.cam, s.saliency]).toEqual([`${s.id}/image.npy`, `${s.id}/grad-cam.npy`, `${s.id}/saliency.npy`]);
      const [image, cam, saliency] = await Promise.all([s.image, s.cam, s.saliency].map((file) => readNpy(tiny.attention.file(file))));
      const featureImage = await readNpy(tiny.featureMaps.file(f.image));
      expect(Buffer.from(image.data.buffer).equals(Buffer.from(featureImage.data.buffer))).toBe(true);
      for (const t of [image, cam, saliency]) {
        expect(t.shape).toEqual([28, 28]);
        expect(Math.min(...t.data)).toBeGreaterThanOrEqual(0);
        expect(max(t.data)).toBeLessThanOrEqual(1);
      }
      expect(max(saliency.data)).toBe(1);
      expect([0, 1]).toContain(max(cam.data));
      expect(s.object_share).toBeCloseTo(image.data.filter((v) => v > 0).length / PIXELS, 12);
      if (max(cam.data) > 0) expect(s.cam_on_object).toBeCloseTo(share((p) => image.data[p] > 0, cam.data), 6);
      else expect(s.cam_on_object).toBeNull();
    }
    // test images 1, 2, 4, 6, 8 and 9 are first of their class: in both
    expect(compared).toBeGreaterThanOrEqual(6);
  });

  it('draws one figure per sample and a report section with all of them', async () => {
    const index = await tiny.attention.index.read();
    const figures = await readJson<FigureIndex>(join(tiny.runDir, 'figures', 'index.json'));
    const drawn = figures.figures.filter((f) => f.kind === 'attention');
    expect(drawn.map((f) => [f.name, f.sample])).toEqual(index.samples.map((s) => [`attention-${s.id}`, s.id]));
    const html = readFileSync(tiny.reportHtml.path, 'utf8');
    const start = html.indexOf('<div class="beyond-part" id="attention"');
    expect(start).toBeGreaterThan(0);
    const ends = ['<div class="beyond-part"', '</section>'].map((m) => html.indexOf(m, start + 1)).filter((i) => i > 0);
    const section = html.slice(start, Math.min(...ends));
    console.log(`report: the attention section is ${Buffer.byteLength(section)} bytes of ${Buffer.byteLength(html)}`);
    for (const f of drawn) expect(section).toContain(`data-figure="${f.name}"`);
    expect(section).not.toContain('data-empty="attention"');
    const boot = index.samples[0];
    expect(section).toContain(`data-attention="${boot.id}"`);
    expect(section).toContain(
      boot.cam_on_object === null ? 'Grad-CAM is zero everywhere' : `${(boot.cam_on_object * 100).toFixed(0)}% of Grad-CAM's mass lies on the garment's pixels`,
    );
    // the part sits inside "Beyond the chapter", before "Training"
    expect(html.indexOf('id="attention"')).toBeGreaterThan(html.indexOf('<section id="beyond"'));
    expect(html.indexOf('id="attention"')).toBeLessThan(html.indexOf('<section id="training"'));
  });
});
