/**
 * Where the network looks: Grad-CAM on the last conv layer and input-gradient saliency
 * (pipeline/ml/grad-cam.ts) for the samples the feature maps show, the chapter's ankle boot and
 * the first test image of each class. A model without a conv layer (a dense network) gets an
 * index that says so, with no samples.
 */
import { IMAGE_SIZE } from '../pipeline/catalog/dataset.js';
import { pickSamples, type Sample } from '../pipeline/catalog/samples.js';
import { CLASS_NAMES, type AttentionIndex } from '../pipeline/catalog/schema.js';
import { defineStep } from '../pipeline/catalog/store.js';

const files = (s: Sample) => ({ image: `${s.id}/image.npy`, cam: `${s.id}/grad-cam.npy`, saliency: `${s.id}/saliency.npy` });

export const attentionStep = defineStep({
  name: 'attention',
  module: import.meta.url,
  // Gradients are the backend's computations.
  usesBackend: true,
  // The model and the samples decide everything; no setting does.
  params: () => ({}),
  inputs: (store) => ({ model: store.model, dataset: store.dataset }),
  outputs: (store) => ({ attention: store.attention }),
  async run({ inputs, outputs, log }) {
    // TensorFlow.js loads only when the step runs.
    const { explain, massOnObject } = await import('../pipeline/ml/grad-cam.js');
    const { mapLayerIndices } = await import('../pipeline/ml/sub-models.js');
    const samples = pickSamples(await inputs.dataset.load());
    const model = await inputs.model.load();
    let explained: ReturnType<typeof explain>;
    try {
      mapLayerIndices(model, inputs.model.modelJson); // a model that does not take Fashion-MNIST images is bad input
      explained = explain(model, samples.map((s) => s.pixels));
    } finally {
      model.dispose();
    }
    if (!explained) {
      await outputs.attention.index.write({ layer: null, score: null, samples: [] });
      log.info('attention: the model has no conv layer, so there is no Grad-CAM to compute');
      return;
    }
    const shape = [IMAGE_SIZE, IMAGE_SIZE];
    const index: AttentionIndex = { layer: explained[0].layer, score: explained[0].score, samples: [] };
    for (const [i, s] of samples.entries()) {
      const a = explained[i];
      const f = files(s);
      await outputs.attention.write(f.image, s.pixels, shape);
      await outputs.attention.write(f.cam, a.cam, shape);
      await outputs.attention.write(f.saliency, a.saliency, shape);
      const mass = massOnObject(s.pixels, a.cam);
      index.samples.push({
        id: s.id,
        split: s.split,
        index: s.index,
        label: s.label,
        class_name: CLASS_NAMES.en[s.label],
        ...f,
        prediction: a.predicted,
        probability: a.probabilities[a.predicted],
        probabilities: a.probabilities,
        object_share: mass.objectShare,
        cam_on_object: mass.onObject,
      });
    }
    await outputs.attention.index.write(index);
    const boot = index.samples[0];
    log.info(
      `attention: Grad-CAM on ${index.layer} (${index.score}) for ${index.samples.length} samples; ${boot.id} (${boot.class_name}) -> ` +
        `${CLASS_NAMES.en[boot.prediction]} ${boot.probability.toFixed(3)}, ${boot.cam_on_object === null ? 'Grad-CAM zero everywhere' : `${(boot.cam_on_object * 100).toFixed(0)}% of its Grad-CAM on the ${(boot.object_share * 100).toFixed(0)}% of pixels the garment covers`}`,
    );
  },
});
