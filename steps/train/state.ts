/**
 * Per-epoch training checkpoints: model weights + Adam state, for resume after a kill.
 *
 * Layout under train/state/: one folder per kept epoch (`epoch-0007/tensors.bin` + `tensors.json`
 * with the specs and the SHA-256 of the .bin), and `latest.json` naming the newest complete one.
 * A folder is fully written before `latest.json` points at it (both atomically), so a kill at any
 * moment leaves a pointer to a complete epoch. A folder that fails its hash or its shapes on load
 * is reported and the previous kept epoch is tried, then a clean start.
 */
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { faultPoint } from '../../pipeline/core/fault.js';
import { sha256 } from '../../pipeline/core/hash.js';
import { exists, writeFileSafe, writeJson } from '../../pipeline/core/files.js';
import { HistoryRowSchema, type HistoryRow } from '../../pipeline/catalog/schema.js';
import { messageOf } from '../../pipeline/core/errors.js';
import { readArtifact } from '../../pipeline/core/read-artifact.js';
import { dict, int, loose } from '../../pipeline/core/schema-kit.js';
import * as v from 'valibot';
import { tf } from '../../pipeline/tfjs/tf.js';

/**
 * What decides the weights of the saved epochs (params, data, backend, training code), as one
 * digest and, to say what changed, per part and per training-code file.
 */
export interface EpochKey {
  digest: string;
  parts?: Record<string, string | null>;
  files?: Record<string, string>;
}

/** latest.json: the newest complete epoch. */
const PointerSchema = loose({
  /** digest of what the epochs were trained from; another one means: start clean */
  key: v.string(),
  parts: v.optional(dict(v.nullable(v.string()))),
  files: v.optional(dict(v.string())),
  epoch: int(1),
  /** kept epochs, newest first */
  kept: v.array(int(1)),
});
type Pointer = v.InferOutput<typeof PointerSchema>;

const keyOf = (key: string | EpochKey): EpochKey => (typeof key === 'string' ? { digest: key } : key);

/** "the training code (pipeline/ml/trainer.ts)", "params and data": what differs between two keys. */
function keyChange(saved: Pointer, now: EpochKey): string {
  if (!saved.parts || !now.parts) return 'other parameters or data';
  const changed = Object.keys(now.parts).filter((k) => saved.parts?.[k] !== now.parts?.[k]);
  const files = Object.keys({ ...saved.files, ...now.files })
    .filter((f) => saved.files?.[f] !== now.files?.[f])
    .sort();
  const named = changed.map((k) => (k === 'code' && files.length > 0 ? `the training code (${files.join(', ')})` : k === 'code' ? 'the training code' : `the ${k}`));
  return named.length > 0 ? named.join(', ') : 'other parameters or data';
}

/** epoch-NNNN/tensors.json: what tensors.bin holds. */
const TensorsFileSchema = loose({
  sha256: v.string(),
  // tfjs checks the specs against the bytes when it decodes them.
  specs: v.array(v.custom<tf.io.WeightsManifestEntry>((x) => typeof x === 'object' && x !== null)),
  epoch: int(1),
  /** history up to and including this epoch: kept with the weights so the two never disagree */
  rows: v.array(HistoryRowSchema),
  /** the key it was trained under: a folder found without latest.json says itself what it is */
  key: v.optional(v.string()),
});
type TensorsFile = v.InferOutput<typeof TensorsFileSchema>;

const dirOf = (root: string, epoch: number) => join(root, `epoch-${String(epoch).padStart(4, '0')}`);

/** The Adam internals that its getWeights/setWeights do not carry but resume needs bit for bit. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

async function encodeState(model: tf.LayersModel, optimizer: tf.Optimizer): Promise<{ data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] }> {
  const named: { name: string; tensor: tf.Tensor }[] = model.weights.map((w) => ({ name: `model/${w.originalName}`, tensor: w.read() }));
  const adam = optimizer as unknown as AdamInternals;
  for (const { name, tensor } of await optimizer.getWeights()) named.push({ name: `optimizer/${name}`, tensor });
  named.push({ name: 'adam/accBeta1', tensor: adam.accBeta1 }, { name: 'adam/accBeta2', tensor: adam.accBeta2 });
  return tf.io.encodeWeights(named);
}

export async function saveEpoch(
  root: string,
  key: string | EpochKey,
  rows: HistoryRow[],
  keep: number[],
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
): Promise<void> {
  const epoch = rows.length;
  const { data, specs } = await encodeState(model, optimizer);
  const { digest, parts, files } = keyOf(key);
  const dir = dirOf(root, epoch);
  await mkdir(dir, { recursive: true });
  const bytes = new Uint8Array(data);
  await writeFileSafe(join(dir, 'tensors.bin'), bytes);
  await writeJson(join(dir, 'tensors.json'), { sha256: sha256(bytes), specs, epoch, rows, key: digest } satisfies TensorsFile);
  const kept = [epoch, ...keep.filter((e) => e !== epoch)];
  faultPoint('epoch-unpointed');
  await writeJson(join(root, 'latest.json'), { key: digest, ...(parts && { parts }), ...(files && { files }), epoch, kept } satisfies Pointer);
  // Only after the pointer moved may older folders go.
  for (const entry of await readdir(root)) {
    const m = /^epoch-(\d+)$/.exec(entry);
    if (m && !kept.includes(Number(m[1]))) await rm(join(root, entry), { recursive: true, force: true });
  }
}

/**
 * Reads and verifies one saved epoch; throws with the reason when it is not usable. `key`: the
 * key it must have been trained under, when no latest.json vouches for it.
 */
async function readEpoch(root: string, epoch: number, key?: string): Promise<{ tensors: tf.NamedTensorMap; rows: HistoryRow[] }> {
  const dir = dirOf(root, epoch);
  const meta = await readArtifact(TensorsFileSchema, join(dir, 'tensors.json'), 'it is not used');
  if (key !== undefined && meta.key !== key) throw new Error(`${join(dir, 'tensors.json')} was trained with other parameters, data or code`);
  const bytes = await readFile(join(dir, 'tensors.bin'));
  if (sha256(bytes) !== meta.sha256) throw new Error(`${join(dir, 'tensors.bin')} does not match its recorded SHA-256 (truncated or changed)`);
  if (meta.rows.length !== epoch) throw new Error(`${join(dir, 'tensors.json')} does not hold the history of epochs 1-${epoch}`);
  const tensors = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), meta.specs);
  return { tensors, rows: meta.rows };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Puts a saved epoch into model and optimizer; throws (touching nothing) when shapes do not fit. */
async function applyEpoch(tensors: tf.NamedTensorMap, model: tf.LayersModel, optimizer: tf.Optimizer): Promise<void> {
  const weights = model.weights.map((w) => {
    const t = tensors[`model/${w.originalName}`];
    if (!t || !sameShape(t.shape, w.shape as number[])) throw new Error(`saved weight ${w.originalName} is missing or has the wrong shape`);
    return t;
  });
  const optNames = Object.keys(tensors).filter((n) => n.startsWith('optimizer/'));
  // Adam: iterations + one first and one second moment per trainable weight.
  if (optNames.length !== 1 + 2 * model.trainableWeights.length) throw new Error('saved optimizer state does not fit this model');
  const acc1 = tensors['adam/accBeta1'];
  const acc2 = tensors['adam/accBeta2'];
  if (!acc1 || !acc2) throw new Error('saved Adam state lacks accBeta1/accBeta2');
  model.setWeights(weights);
  await optimizer.setWeights(optNames.map((n) => ({ name: n.slice('optimizer/'.length), tensor: tensors[n] })));
  const adam = optimizer as unknown as AdamInternals;
  // setWeights recomputes these as beta^t, which rounds differently from the running product.
  adam.accBeta1.assign(acc1 as tf.Scalar);
  adam.accBeta2.assign(acc2 as tf.Scalar);
}

export interface Resumed {
  kept: number[];
  /** history of epochs 1..n, n being the epoch resumed after */
  rows: HistoryRow[];
}

/** The epoch folders in `root`, newest first. */
async function epochFolders(root: string): Promise<number[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  return entries.flatMap((e) => /^epoch-(\d+)$/.exec(e)?.[1] ?? []).map(Number).sort((a, b) => b - a);
}

/** Verified work of another key or an unknown one: moved to `<root>.previous`, never deleted. */
async function setAside(root: string): Promise<string> {
  const aside = `${root}.previous`;
  await rm(aside, { recursive: true, force: true });
  await rename(root, aside);
  return aside;
}

/**
 * Restores the newest usable epoch trained with `key`. Returns null for a clean start (nothing
 * saved, another key, or nothing usable), after logging why through `warn`. Epochs saved under
 * another key are verified work: they are moved to `<root>.previous` (replacing an older set), never
 * deleted silently. Without a readable latest.json (a damaged one, or a kill before the first
 * pointer), the epoch folders are scanned and the newest that verifies under this key is resumed.
 */
export async function resumeEpoch(
  root: string,
  key: string | EpochKey,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  warn: (message: string) => void,
): Promise<Resumed | null> {
  const now = keyOf(key);
  const latest = join(root, 'latest.json');
  const onDisk = await epochFolders(root);
  let pointer: Pointer | null = null;
  if (await exists(latest)) {
    try {
      pointer = await readArtifact(PointerSchema, latest, 'it is not used');
    } catch (err) {
      warn(`${messageOf(err)}: looking for the newest saved epoch that verifies instead`);
    }
  }
  if (!pointer && onDisk.length === 0) return null;
  if (pointer && pointer.key !== now.digest) {
    const aside = await setAside(root);
    warn(`saved epochs 1-${pointer.epoch} in ${root} were trained with ${keyChange(pointer, now)}: starting over; they are kept in ${aside}`);
    return null;
  }
  const candidates = pointer ? [...pointer.kept].sort((a, b) => b - a) : onDisk;
  for (const [i, epoch] of candidates.entries()) {
    try {
      const { tensors, rows } = await readEpoch(root, epoch, pointer ? undefined : now.digest);
      try {
        await applyEpoch(tensors, model, optimizer);
      } finally {
        tf.dispose(Object.values(tensors));
      }
      if (i > 0 || !pointer) warn(`resumed from epoch ${epoch}, the newest epoch that loads`);
      return { rows, kept: candidates.filter((e) => e <= epoch) };
    } catch (err) {
      warn(`saved epoch ${epoch} in ${root} does not load (${(err as Error).message}); trying an older one`);
    }
  }
  if (!pointer) {
    const aside = await setAside(root);
    warn(`no saved epoch in ${root} verifies for these params, data and code: starting clean; the epoch folders are kept in ${aside}`);
    return null;
  }
  warn(`no saved epoch in ${root} loads: starting clean`);
  return null;
}

/** Model weights of a saved epoch (for the best epoch at the end of training). */
export async function loadEpochWeights(root: string, epoch: number, model: tf.LayersModel): Promise<void> {
  const { tensors } = await readEpoch(root, epoch);
  try {
    model.setWeights(model.weights.map((w) => tensors[`model/${w.originalName}`]));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
