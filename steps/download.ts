import { DEBIAN_DATASET_DIR, DEBIAN_PACKAGE, aptSource } from '../pipeline/data/sources/apt.js';
import { acquireDataset } from '../pipeline/data/download-chain.js';
import { dirSource } from '../pipeline/data/sources/dir.js';
import { httpOptionsFrom, httpSource, mirrorsFrom } from '../pipeline/data/sources/http.js';
import type { Source } from '../pipeline/data/sources/source.js';
import { defineStep } from '../pipeline/catalog/store.js';

/**
 * Sources after the cache, in order: the user's folder (--data-dir, else FASHION_MNIST_DIR),
 * Debian's installed package, the HTTP mirrors, then Debian's package fetched without root.
 * Environment knobs (tests isolate each source with them): CNN_LENS_DEBIAN_DIR replaces the
 * Debian folder, CNN_LENS_MIRRORS the mirror list, CNN_LENS_HTTP_TIMEOUT_MS the HTTP timeouts,
 * CNN_LENS_NO_APT=1 turns the apt-get fallback off.
 */
export function datasetSources(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Source[] {
  const fromEnv = env.FASHION_MNIST_DIR || undefined;
  const userLabel = dataDir !== undefined ? `--data-dir ${dataDir}` : fromEnv ? `FASHION_MNIST_DIR=${fromEnv}` : '--data-dir / FASHION_MNIST_DIR';
  const debianDir = env.CNN_LENS_DEBIAN_DIR || DEBIAN_DATASET_DIR;
  const http = httpOptionsFrom(env);
  return [
    dirSource(userLabel, dataDir ?? fromEnv, { notGiven: 'not given' }),
    dirSource(`Debian package ${DEBIAN_PACKAGE} at ${debianDir}`, debianDir, { missing: `the package is not installed` }),
    ...mirrorsFrom(env).map((base) => httpSource(base, http)),
    aptSource({ disabled: env.CNN_LENS_NO_APT === '1' ? 'turned off by CNN_LENS_NO_APT=1' : undefined }),
  ];
}

/**
 * Fills the dataset cache shared by all runs with the four verified Fashion-MNIST files. It
 * writes outside the run folder (not staged), atomically, and depends on no run parameter: the
 * pinned hashes make every source give the same bytes.
 */
export const downloadStep = defineStep({
  name: 'download',
  module: import.meta.url,
  staged: false,
  params: () => ({}),
  inputs: () => ({}),
  outputs: (store) => ({ cache: store.datasetCache }),
  async run({ params, outputs, log }) {
    await acquireDataset({ cacheDir: outputs.cache.dir, sources: datasetSources(params.dataDir), log });
  },
});
