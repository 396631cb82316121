/**
 * Typed artifacts: what the store hands to steps. Each knows its files (for fingerprints), reads
 * itself validated (a bad or foreign file is bad input naming the file and the field) and writes
 * itself atomically. Steps never join paths or parse JSON themselves.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type * as v from 'valibot';
import { BadInputError } from '../core/errors.js';
import { writeFileSafe, writeJson } from '../core/files.js';
import type { Artifact } from '../core/step.js';
import type { tf } from '../tfjs/tf.js';
import { datasetFiles, loadFashionMnist, type ImageSet } from './dataset.js';
import { modelFiles } from './model-files.js';
import { readModelSummary, type ModelSummary } from './model-summary.js';
import { readNpy, writeNpy, type NpyArray } from './npy.js';
import { readArtifact } from '../core/read-artifact.js';
import { FigureIndexSchema, type FigureIndex } from './schema.js';

/** The fix for a bad artifact: redo the step that writes it. */
export const redo = (step: string) => `run the ${step} step again (npm run pipeline -- --only ${step} --force)`;

/** A path recorded inside an artifact must stay inside its folder (artifacts are input too). */
export function checkRelative(path: string): string {
  if (typeof path !== 'string' || isAbsolute(path) || path.split(/[\\/]/).includes('..')) {
    throw new BadInputError(`artifact path ${JSON.stringify(path)} leaves its step folder: re-create the artifact that names it`);
  }
  return path;
}

/** One JSON file, validated by its schema when read. */
export class JsonArtifact<S extends v.GenericSchema> implements Artifact {
  constructor(
    readonly path: string,
    private readonly schema: S,
    readonly producer: string,
  ) {}
  get paths(): string[] {
    return [this.path];
  }
  read(): Promise<v.InferOutput<S>> {
    return readArtifact(this.schema, this.path, redo(this.producer));
  }
  write(value: v.InferOutput<S>): Promise<void> {
    return writeJson(this.path, value);
  }
}

/** One file written whole (report.html). */
export class FileArtifact implements Artifact {
  constructor(readonly path: string) {}
  get paths(): string[] {
    return [this.path];
  }
  write(data: string | Uint8Array): Promise<void> {
    return writeFileSafe(this.path, data);
  }
}

/** A model in the TensorFlow.js layers format: model.json + weights.bin. */
export class ModelArtifact implements Artifact {
  constructor(readonly modelJson: string) {}
  get paths(): string[] {
    return modelFiles(this.modelJson);
  }
  // TensorFlow.js loads with the first model a step loads or saves, not with the catalog.
  async load(): Promise<tf.LayersModel> {
    const { loadModel } = await import('./model-io.js');
    return loadModel(this.modelJson);
  }
  async save(model: tf.LayersModel): Promise<void> {
    const { saveModel } = await import('./model-io.js');
    return saveModel(model, this.modelJson);
  }
  /** model.json alone: for steps that show the layer table, which a change of weights leaves as it is. */
  get topology(): { paths: string[]; summary(): Promise<ModelSummary> } {
    const modelJson = this.modelJson;
    return { paths: [modelJson], summary: () => readModelSummary(modelJson) };
  }
}

/** A step folder of .npy tensors and the JSON index that lists them (weights/, feature-maps/). */
export class TensorFolder<S extends v.GenericSchema> implements Artifact {
  readonly index: JsonArtifact<S>;
  constructor(
    readonly dir: string,
    indexName: string,
    schema: S,
    readonly producer: string,
  ) {
    this.index = new JsonArtifact(join(dir, indexName), schema, producer);
  }
  get paths(): string[] {
    return [this.dir];
  }
  /** A tensor's path, from its name relative to the folder as the index records it. */
  file(relative: string): string {
    return join(this.dir, checkRelative(relative));
  }
  /** Reads a tensor; `shape`, when given, is what the index says it is. */
  async read(relative: string, shape?: readonly number[]): Promise<NpyArray> {
    const path = this.file(relative);
    const t = await readNpy(path);
    if (shape && t.shape.join() !== shape.join()) {
      throw new BadInputError(`${path} has shape [${t.shape.join(', ')}] but its index says [${shape.join(', ')}]: ${redo(this.producer)}`);
    }
    return t;
  }
  write(relative: string, data: Float32Array, shape: number[]): Promise<void> {
    return writeNpy(this.file(relative), data, shape);
  }
}

/** The files of one rendered figure. */
export interface FigureFiles {
  spec: string;
  svg: string;
  png: Uint8Array;
}

const FIGURE_NAME = /^[A-Za-z][\w-]*$/;

/** A folder of figures: <name>.vl.json, <name>.svg, <name>.png, listed by index.json. */
export class FigureFolder implements Artifact {
  readonly index: JsonArtifact<typeof FigureIndexSchema>;
  constructor(
    readonly dir: string,
    readonly producer = 'figures',
  ) {
    this.index = new JsonArtifact(join(dir, 'index.json'), FigureIndexSchema, producer);
  }
  get paths(): string[] {
    return [this.dir];
  }
  private file(name: string, ext: string): string {
    if (!FIGURE_NAME.test(name)) throw new BadInputError(`figure name ${JSON.stringify(name)} is not a plain file name: ${redo(this.producer)}`);
    return join(this.dir, `${name}${ext}`);
  }
  async write(name: string, files: FigureFiles): Promise<void> {
    await writeFileSafe(this.file(name, '.vl.json'), files.spec);
    await writeFileSafe(this.file(name, '.svg'), files.svg);
    await writeFileSafe(this.file(name, '.png'), files.png);
  }
  /** The SVGs the index lists, by figure name: only what the figures step wrote goes into a page. */
  async readSvgs(): Promise<{ index: FigureIndex; svgs: Map<string, string> }> {
    const index = await this.index.read();
    const svgs = new Map<string, string>();
    for (const f of index.figures) {
      const path = this.file(f.name, '.svg');
      const svg = await readFile(path, 'utf8').catch(() => null);
      if (svg === null || !svg.startsWith('<svg ')) throw new BadInputError(`${path} is missing or not an SVG: ${redo(this.producer)}`);
      svgs.set(f.name, svg);
    }
    return { index, svgs };
  }
}

/** The verified Fashion-MNIST cache shared by all runs: the four .gz files (and the cache's manifest, written by download). */
export class DatasetArtifact implements Artifact {
  constructor(
    readonly dir: string,
    private readonly withManifest = false,
  ) {}
  get paths(): string[] {
    return this.withManifest ? [...datasetFiles(this.dir), join(this.dir, 'manifest.json')] : datasetFiles(this.dir);
  }
  /** All 70,000 images and labels, each file verified against its pinned SHA-256 as it loads. */
  load(): Promise<{ train: ImageSet; test: ImageSet }> {
    return loadFashionMnist(this.dir);
  }
}

/** A folder the step owns whole (train's resumable epochs); its module reads and writes inside. */
export class FolderArtifact implements Artifact {
  constructor(readonly dir: string) {}
  get paths(): string[] {
    return [this.dir];
  }
}

/**
 * A folder a step keeps for its own next run, not part of what it produces (train's per-epoch
 * state, for resume): no paths, so it enters no digest, and deleting it (`npm run runs -- --prune`)
 * does not make the step run again.
 */
export class ScratchFolder extends FolderArtifact {
  override get paths(): string[] {
    return [];
  }
}
