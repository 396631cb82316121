/** run.json: what a run is (params, backend, versions, commit) and what each step did. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { BadInputError } from './errors.js';
import { exists, writeJson } from './files.js';
import { BACKENDS, LANGS, PROFILES } from './params.js';
import { parseArtifact } from './read-artifact.js';
import { dict, int, loose, nonNegative } from './schema-kit.js';

/**
 * Version of run.json's shape. A run.json without `schema_version` was written by the previous
 * release: version 1, the same shape otherwise (its step records have no `parts`).
 */
export const RUN_SCHEMA_VERSION = 2;

/**
 * The run's `Params` (pipeline/core/params.ts) as run.json records them. Every field is optional:
 * a run recorded by an older release may lack a field added since; a field that is there must
 * have the right type.
 */
export const RunParamsSchema = loose({
  profile: v.optional(v.picklist(PROFILES)),
  seed: v.optional(v.pipe(v.number(), v.integer())),
  epochs: v.optional(int(1)),
  batchSize: v.optional(int(1)),
  patience: v.optional(int()),
  /** images used for training, taken from the 60,000 after a seeded shuffle */
  trainSize: v.optional(int(1)),
  /** images held out for validation, disjoint from the training ones */
  valSize: v.optional(int()),
  /** --dropout (absent in runs recorded before the option: the book's 0.4) */
  dropout: v.optional(v.number()),
  /** --learning-rate (absent in runs recorded before the option: Adam's 0.001) */
  learningRate: v.optional(v.number()),
  backend: v.optional(v.picklist(BACKENDS)),
  /** wasm's threads (--threads); in no fingerprint: the weights are the same for every count */
  threads: v.optional(int(1)),
  lang: v.optional(v.picklist(LANGS)),
  /** --map-points (absent: the mistakes step's default for the run) */
  mapPoints: v.optional(int(1)),
  /** Extra dataset source (--data-dir or FASHION_MNIST_DIR); not part of any fingerprint. */
  dataDir: v.optional(v.string()),
  /** --model: the trained model file the run was made from, instead of training */
  model: v.optional(
    loose({
      path: v.string(),
      sha256: v.string(),
      format: v.string(),
      keras_version: v.nullable(v.string()),
      date_saved: v.nullable(v.string()),
    }),
  ),
});

/** The parts of a step's fingerprint, each hashed, so that a re-run can say what changed. */
export const FingerprintPartsSchema = loose({
  params: v.string(),
  inputs: v.string(),
  code: v.string(),
  backend: v.nullable(v.string()),
});
export type FingerprintParts = v.InferOutput<typeof FingerprintPartsSchema>;

/** What one step did in this run. */
export const StepRecordSchema = loose({
  /** `imported`: the step took its output from a file (train, for --model) */
  status: v.picklist(['running', 'ok', 'imported', 'failed']),
  /** what an `imported` step took its output from */
  source: v.optional(dict(v.unknown())),
  fingerprint: v.string(),
  /** absent in runs recorded before fingerprints were split into parts */
  parts: v.optional(FingerprintPartsSchema),
  /** digest of what the step wrote, to notice outputs changed or deleted since */
  outputs: v.optional(v.string()),
  started: v.string(),
  seconds: v.optional(nonNegative()),
  error: v.optional(v.string()),
});
export type StepRecord = v.InferOutput<typeof StepRecordSchema>;

/** run.json: what a run is (params, backend, versions, commit) and what each step did. */
export const RunManifestSchema = loose({
  /** Version of this shape (RUN_SCHEMA_VERSION); a run.json without it is version 1. */
  schema_version: v.optional(int(1), 1),
  run_id: v.string(),
  created: v.string(),
  updated: v.string(),
  params: RunParamsSchema,
  profile: v.string(),
  seed: v.pipe(v.number(), v.integer()),
  backend: v.string(),
  backend_reason: v.string(),
  versions: dict(v.string()),
  git_commit: v.string(),
  /** The step names in pipeline order, as the code that wrote this run declared them (since version 2). */
  pipeline: v.optional(v.array(v.string())),
  /** Per step name (a step that never ran has no record); every record is validated, whatever its name. */
  steps: dict(StepRecordSchema),
});
export type RunManifest = v.InferOutput<typeof RunManifestSchema>;

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * run.json, validated. A run.json of an older schema version is read when its shape allows (version
 * 1 differs only by fields that are optional here); one that does not validate, or comes from a
 * newer release, is bad input saying what to do.
 */
export async function readManifest(path: string): Promise<RunManifest | null> {
  if (!(await exists(path))) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new BadInputError(
      `${path} is corrupt (${(err as Error).message}): delete it to redo the run's steps from their outputs' fingerprints, or delete the run folder`,
    );
  }
  const version = (raw as { schema_version?: unknown } | null)?.schema_version;
  if (typeof version === 'number' && version > RUN_SCHEMA_VERSION) {
    throw new BadInputError(`${path} was written by a newer cnn-lens (run.json schema ${version}, this one reads up to ${RUN_SCHEMA_VERSION}): update cnn-lens, or re-run it with this version of cnn-lens`);
  }
  return parseArtifact(RunManifestSchema, raw, path, 'not a cnn-lens run manifest of a version this one reads: delete it (the run\'s steps are redone), or re-run it with this version of cnn-lens');
}

export async function writeManifest(path: string, manifest: RunManifest): Promise<void> {
  manifest.updated = new Date().toISOString();
  await writeJson(path, manifest);
}

function versionOf(packageJson: string): string | null {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/**
 * Versions of what decides a run's numbers and figures, read from the installed package.json
 * files (some packages, vega among them, do not export theirs to require). Read once per process:
 * the runner asks for them for every step's fingerprint.
 */
export function packageVersions(): Record<string, string> {
  installed ??= readVersions();
  return { ...installed };
}

let installed: Record<string, string> | undefined;

function readVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.versions.node };
  for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', 'vega', 'vega-lite', 'handlebars', '@resvg/resvg-js']) {
    const v = versionOf(join(PROJECT_ROOT, 'node_modules', name, 'package.json'));
    if (v) versions[name] = v; // tfjs-node is optional
  }
  versions['cnn-lens'] = versionOf(join(PROJECT_ROOT, 'package.json')) ?? 'unknown';
  return versions;
}

/** The checkout's commit, with "-dirty" when it has uncommitted changes; "unknown" outside git. */
export async function gitCommit(): Promise<string> {
  try {
    // zx takes a fifth of a second to import, and a no-op run should take well under 3 s.
    const { $ } = await import('zx');
    const q = $({ cwd: PROJECT_ROOT, quiet: true });
    const commit = (await q`git rev-parse HEAD`).stdout.trim();
    const dirty = (await q`git status --porcelain --untracked-files=no`).stdout.trim() !== '';
    return dirty ? `${commit}-dirty` : commit;
  } catch {
    return 'unknown';
  }
}
