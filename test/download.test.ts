import { copyFile, readFile, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { which } from 'zx/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASET_FILES, loadFashionMnist, type DatasetFile } from '../pipeline/catalog/dataset.js';
import { cacheManifestPath, type CacheManifest } from '../pipeline/data/download-cache.js';
import { acquireDataset } from '../pipeline/data/download-chain.js';
import { BadInputError } from '../pipeline/core/errors.js';
import { sha256 } from '../pipeline/core/hash.js';
import type { Logger } from '../pipeline/core/log.js';
import { aptSource } from '../pipeline/data/sources/apt.js';
import { dirSource } from '../pipeline/data/sources/dir.js';
import { httpSource, type HttpOptions } from '../pipeline/data/sources/http.js';
import { SourceError, type Source } from '../pipeline/data/sources/source.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { datasetSources, downloadStep } from '../steps/download.js';
import { runCli, tempDir } from './helpers.js';
import { pathsOf } from './helpers/step-context.js';

const DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';
const [TRAIN_IMAGES, , , TEST_LABELS] = DATASET_FILES;
const GZ = DATASET_FILES.map((f) => `${f.name}.gz`);
// Big buffers are compared by hash: vitest's toEqual walks them entry by entry (and runs out of heap).
const dirs: string[] = [];
const hasApt = Boolean((await which('apt-get', { nothrow: true })) && (await which('dpkg-deb', { nothrow: true })));
if (!hasApt) console.warn('skipping the apt-get download test: this host has no apt-get or no dpkg-deb (not Debian-like)');

function dir(prefix = 'cnn-lens-download-'): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** A Logger that keeps what it was told, progress bars included. */
function recorder() {
  const lines: string[] = [];
  const bars: { label: string; total: number; last: number }[] = [];
  const log: Logger = {
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    progress(label, total) {
      const bar = { label, total, last: 0 };
      bars.push(bar);
      return { update: (v) => void (bar.last = v), stop() {} };
    },
  };
  return { log, lines, bars, text: () => lines.join('\n') };
}

/** Debian's .gz files copied into a fresh folder (or gunzipped, for a folder of raw IDX). */
async function copyOfDebian(form: 'gz' | 'raw' = 'gz'): Promise<string> {
  const d = dir();
  for (const f of DATASET_FILES) {
    const src = join(DEBIAN_DIR, `${f.name}.gz`);
    if (form === 'gz') await copyFile(src, join(d, `${f.name}.gz`));
    else await writeFile(join(d, f.name), gunzipSync(await readFile(src)));
  }
  return d;
}

async function manifestOf(cache: string): Promise<CacheManifest> {
  return JSON.parse(await readFile(cacheManifestPath(cache), 'utf8')) as CacheManifest;
}

async function acquireError(cacheDir: string, sources: Source[], log: Logger): Promise<Error> {
  const err = await acquireDataset({ cacheDir, sources, log }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(BadInputError);
  return err as Error;
}

/** Sources that cannot give anything: only the cache can serve. */
const NOTHING: Source[] = [dirSource('--data-dir / FASHION_MNIST_DIR', undefined, { notGiven: 'not given' })];

/** A cache filled from a copy of Debian's folder. */
async function filledCache(): Promise<string> {
  const cache = join(dir(), 'data', 'fashion-mnist');
  await acquireDataset({ cacheDir: cache, sources: [dirSource('fixture', await copyOfDebian())], log: recorder().log });
  return cache;
}

beforeAll(async () => {
  if (!(await stat(DEBIAN_DIR).catch(() => null))) throw new Error(`${DEBIAN_DIR} is missing: apt-get install dataset-fashion-mnist`);
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('the cache (source a)', () => {
  it('is filled with verified .gz files and a manifest recording source, sizes and hashes', async () => {
    const debian = await copyOfDebian();
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: [dirSource('fixture', debian)], log });
    expect((await readdir(cache)).sort()).toEqual([...GZ, 'manifest.json'].sort());
    for (const name of GZ) expect(sha256(await readFile(join(cache, name)))).toBe(sha256(await readFile(join(DEBIAN_DIR, name))));
    const manifest = await manifestOf(cache);
    const entry = manifest.files['t10k-labels-idx1-ubyte.gz'];
    expect(entry).toMatchObject({
      source: join(debian, 't10k-labels-idx1-ubyte.gz'),
      gz_bytes: 5125,
      gz_mtime_ms: (await stat(join(cache, 't10k-labels-idx1-ubyte.gz'))).mtimeMs,
      gz_sha256: '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
      bytes: 10_008,
      sha256: TEST_LABELS.sha256,
    });
    expect(Object.keys(manifest.files).sort()).toEqual([...GZ].sort());
    expect(lines).toEqual(GZ.map((n) => `info: ${n}: verified, from ${join(debian, n)}`));
    const { train } = await loadFashionMnist(cache);
    expect(train.count).toBe(60_000);
  });

  it('is a hit when it holds good files: nothing fetched, nothing rewritten', async () => {
    const cache = await filledCache();
    const manifestBefore = await readFile(cacheManifestPath(cache), 'utf8');
    const mtimes = await Promise.all(GZ.map(async (n) => (await stat(join(cache, n))).mtimeMs));
    const { log, lines } = recorder();
    const started = performance.now();
    await acquireDataset({ cacheDir: cache, sources: NOTHING, log });
    console.log(`download chain, cache hit: ${(performance.now() - started).toFixed(0)} ms`);
    expect(lines).toHaveLength(4);
    for (const [i, line] of lines.entries()) expect(line).toMatch(new RegExp(`^info: ${GZ[i]}: cached, verified \\S+ \\(from .*${GZ[i]}\\)$`));
    expect(await readFile(cacheManifestPath(cache), 'utf8')).toBe(manifestBefore);
    expect(await Promise.all(GZ.map(async (n) => (await stat(join(cache, n))).mtimeMs))).toEqual(mtimes);
  });

  it('trusts a touched file whose bytes are unchanged (verified again, no fetch)', async () => {
    const cache = await filledCache();
    await utimes(join(cache, GZ[3]), 1_600_000_000, 1_600_000_000);
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: NOTHING, log });
    expect(lines[3]).toMatch(/^info: t10k-labels-idx1-ubyte\.gz: cached, verified/);
  });

  it('catches a flipped byte with size and mtime restored, and repairs it from the next source', async () => {
    const cache = await filledCache();
    const path = join(cache, 't10k-labels-idx1-ubyte.gz');
    const bytes = await readFile(path);
    await utimes(path, 1_650_000_000, 1_650_000_000);
    const before = await stat(path);
    bytes[bytes.length - 200] ^= 0x01;
    await writeFile(path, bytes);
    await utimes(path, 1_650_000_000, 1_650_000_000);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
    expect((await stat(path)).size).toBe(before.size);

    // Training's loader refuses it whatever its mtime says...
    await expect(loadFashionMnist(cache)).rejects.toThrow(new RegExp(`^${path}: damaged gzip data .*--only download --force`));
    // ...and so does the step, which then takes the next good source.
    const debian = await copyOfDebian();
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: [...NOTHING, dirSource('Debian fixture', debian)], log });
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^warn: ${path} changed since it was verified and fails verification \\(damaged gzip data .*\\): replacing it$`)));
    expect(lines).toContainEqual(`info: t10k-labels-idx1-ubyte.gz: verified, from ${join(debian, 't10k-labels-idx1-ubyte.gz')}`);
    expect(sha256(await readFile(path))).toBe(sha256(await readFile(join(DEBIAN_DIR, 't10k-labels-idx1-ubyte.gz'))));
    expect((await manifestOf(cache)).files['t10k-labels-idx1-ubyte.gz'].source).toBe(join(debian, 't10k-labels-idx1-ubyte.gz'));
    const { test } = await loadFashionMnist(cache);
    expect(test.labels[0]).toBe(9);
  });

  it('replaces a file that changed size, and fails naming it when no source has a good copy', async () => {
    const cache = await filledCache();
    const path = join(cache, 'train-labels-idx1-ubyte.gz');
    await writeFile(path, gzipSync(Buffer.from('not an idx file')));
    const { log, lines } = recorder();
    const err = await acquireError(cache, NOTHING, log);
    expect(err.message).toMatch(/^Fashion-MNIST: no source gave a verified copy of train-labels-idx1-ubyte\.gz\. Sources tried, in order:\n/);
    expect(err.message).toContain(`  1. cache ${cache}: train-labels-idx1-ubyte.gz fails verification (15 bytes decompressed, expected 60008)\n`);
    expect(err.message).toContain('  2. --data-dir / FASHION_MNIST_DIR: not given\n');
    expect(lines.filter((l) => l.startsWith('info:'))).toHaveLength(3);
    // The bad file lost its manifest entry: it is never trusted again without verification.
    expect(Object.keys((await manifestOf(cache)).files).sort()).toEqual(GZ.filter((n) => n !== 'train-labels-idx1-ubyte.gz').sort());
  });

  it('verifies again the files of a cache whose manifest is gone or damaged', async () => {
    const cache = await filledCache();
    await writeFile(cacheManifestPath(cache), '{"files": ');
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: NOTHING, log });
    expect(lines[0]).toBe(`warn: ${cacheManifestPath(cache)} is not a valid cache manifest; re-verifying the cached files`);
    expect(lines.slice(1)).toEqual(GZ.map((n) => `info: ${n}: cached, verified again (from ${join(cache, n)})`));
    expect(Object.keys((await manifestOf(cache)).files).sort()).toEqual([...GZ].sort());
  });

  it('lets one writer fill it at a time; a second waits, then finds it filled', async () => {
    const cache = join(dir(), 'cache');
    const debian = dirSource('fixture', await copyOfDebian());
    const first = recorder();
    const second = recorder();
    // The order is made, not hoped for: the first holds the lock (it is fetching) until the second
    // has said that it waits; only then does the first go on.
    let entered!: () => void;
    let release!: () => void;
    const holding = new Promise<void>((resolve) => (entered = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const gated: Source = {
      label: 'fixture, held',
      async fetch(file, log) {
        entered();
        await released;
        return debian.fetch(file, log);
      },
    };
    const firstDone = acquireDataset({ cacheDir: cache, sources: [gated], log: first.log });
    await holding;
    const secondDone = acquireDataset({ cacheDir: cache, sources: NOTHING, log: second.log });
    while (second.lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await Promise.all([firstDone, secondDone]);
    expect(second.lines[0]).toBe(`info: waiting for another pipeline that is filling ${cache}`);
    expect(second.lines.slice(1)).toEqual(GZ.map((n) => expect.stringMatching(new RegExp(`^info: ${n}: cached, verified`))));
  });
});

describe('local folders: --data-dir (b) and the Debian package folder (c)', () => {
  it('takes raw IDX files from --data-dir and caches them gzipped', async () => {
    const raw = await copyOfDebian('raw');
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: datasetSources(raw, { CNN_LENS_NO_APT: '1', CNN_LENS_MIRRORS: '' }), log });
    expect(lines).toEqual(DATASET_FILES.map((f) => `info: ${f.name}.gz: verified, from ${join(raw, f.name)}`));
    for (const f of DATASET_FILES) {
      expect(sha256(gunzipSync(await readFile(join(cache, `${f.name}.gz`))))).toBe(sha256(await readFile(join(raw, f.name))));
    }
    expect((await manifestOf(cache)).files[GZ[0]].source).toBe(join(raw, TRAIN_IMAGES.name));
  });

  it('takes FASHION_MNIST_DIR when --data-dir is not given', async () => {
    const data = await copyOfDebian();
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    const sources = datasetSources(undefined, { FASHION_MNIST_DIR: data, CNN_LENS_DEBIAN_DIR: '/nonexistent', CNN_LENS_NO_APT: '1', CNN_LENS_MIRRORS: '' });
    expect(sources.map((s) => s.label)).toEqual([`FASHION_MNIST_DIR=${data}`, 'Debian package dataset-fashion-mnist at /nonexistent', 'apt-get download dataset-fashion-mnist']);
    await acquireDataset({ cacheDir: cache, sources, log });
    expect(lines[0]).toBe(`info: ${GZ[0]}: verified, from ${join(data, GZ[0])}`);
  });

  it('rejects a --data-dir file that fails its checksum and takes that one from the Debian folder', async () => {
    const data = await copyOfDebian();
    const raw = gunzipSync(await readFile(join(data, GZ[3])));
    raw[100] ^= 0x01;
    await writeFile(join(data, GZ[3]), gzipSync(raw));
    const debian = await copyOfDebian();
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: datasetSources(data, { CNN_LENS_DEBIAN_DIR: debian, CNN_LENS_NO_APT: '1', CNN_LENS_MIRRORS: '' }), log });
    expect(lines).toEqual([
      ...GZ.slice(0, 3).map((n) => `info: ${n}: verified, from ${join(data, n)}`),
      expect.stringMatching(new RegExp(`^warn: ${join(data, GZ[3])} fails verification \\(SHA-256 \\w{12}\\.\\.\\., expected 0402a96d92fd\\.\\.\\.\\): trying the next source$`)),
      `info: ${GZ[3]}: verified, from ${join(debian, GZ[3])}`,
    ]);
    expect((await loadFashionMnist(cache)).test.count).toBe(10_000);
  });

  it("reads the real Debian folder by default (the package ships the four .gz)", async () => {
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    await acquireDataset({ cacheDir: cache, sources: datasetSources(undefined, { CNN_LENS_NO_APT: '1', CNN_LENS_MIRRORS: '' }), log });
    expect(lines).toEqual(GZ.map((n) => `info: ${n}: verified, from ${join(DEBIAN_DIR, n)}`));
  });
});

/** A mirror on 127.0.0.1 serving Debian's real .gz files, misbehaving on demand by URL prefix. */
class Mirror {
  private server!: Server;
  readonly hits: string[] = [];
  private gz = new Map<string, Buffer>();
  private flaky = new Set<string>();
  base = '';

  async start(): Promise<void> {
    for (const name of GZ) this.gz.set(name, await readFile(join(DEBIAN_DIR, name)));
    // One changed label, same length: only the SHA-256 of the decompressed bytes catches it.
    const labels = gunzipSync(this.gz.get(GZ[3])!);
    labels[8 + 42] = (labels[8 + 42] + 1) % 10; // label 42, after the 8-byte header
    const corruptLabels = gzipSync(labels);

    this.server = createServer((req, res) => {
      this.hits.push(req.url!);
      const [, mode, name] = req.url!.split('/');
      const body = this.gz.get(name);
      if (!body) return void res.writeHead(404).end();
      const full = () => res.writeHead(200, { 'content-length': body.length }).end(body);
      const dropHalfway = () => {
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      };
      switch (mode) {
        case 'good':
          return full();
        case 'corrupt': // the changed labels file, and for the others the wrong file altogether
          return void res.writeHead(200).end(name === GZ[3] ? corruptLabels : this.gz.get(GZ[3]));
        case 'encoded': // a server that sets Content-Encoding: fetch hands over the raw IDX
          return void res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length }).end(body);
        case 'stall': // headers and a little data, then silence
          res.writeHead(200, { 'content-length': body.length });
          return void res.write(body.subarray(0, 1000));
        case 'hang': // not even headers
          return;
        case 'drop':
          return dropHalfway();
        case 'flaky': // drops the first request for each file
          if (this.flaky.has(name)) return full();
          this.flaky.add(name);
          return dropHalfway();
        default:
          res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('HTTP mirrors (d)', () => {
  const mirror = new Mirror();
  const fast: HttpOptions = { connectTimeoutMs: 400, readTimeoutMs: 400, attempts: 2, backoffMs: 50 };
  beforeAll(() => mirror.start());
  afterAll(() => mirror.stop());

  async function fetchError(source: Source, file: DatasetFile): Promise<SourceError> {
    const err = await source.fetch(file, recorder().log).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SourceError);
    return err as SourceError;
  }

  it('downloads the real .gz files, with a progress bar of bytes, and caches them', async () => {
    const cache = join(dir(), 'cache');
    const { log, lines, bars } = recorder();
    await acquireDataset({ cacheDir: cache, sources: datasetSources(undefined, { CNN_LENS_DEBIAN_DIR: '/nonexistent', CNN_LENS_MIRRORS: `${mirror.base}/good`, CNN_LENS_NO_APT: '1' }), log });
    expect(lines).toEqual(GZ.map((n) => `info: ${n}: verified, from ${mirror.base}/good/${n}`));
    expect(bars.map((b) => [b.label, b.total, b.last])).toEqual(
      await Promise.all(GZ.map(async (n) => [`download ${n}`, (await stat(join(DEBIAN_DIR, n))).size, (await stat(join(DEBIAN_DIR, n))).size])),
    );
    for (const n of GZ) expect(sha256(await readFile(join(cache, n)))).toBe(sha256(await readFile(join(DEBIAN_DIR, n))));
    expect((await manifestOf(cache)).files[GZ[0]].source).toBe(`${mirror.base}/good/${GZ[0]}`);
  });

  it('rejects corrupted files from one mirror and takes them from the next', async () => {
    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    const sources = [httpSource(`${mirror.base}/corrupt`, fast), httpSource(`${mirror.base}/good/`, fast)];
    await acquireDataset({ cacheDir: cache, sources, log });
    expect(lines).toContainEqual(`warn: ${mirror.base}/corrupt/${GZ[0]} fails verification (10008 bytes decompressed, expected 47040016): trying the next source`);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^warn: ${mirror.base}/corrupt/${GZ[3]} fails verification \\(SHA-256 \\w{12}\\.\\.\\., expected 0402a96d92fd\\.\\.\\.\\)`)));
    expect(lines.filter((l) => l.startsWith('info:'))).toEqual(GZ.map((n) => `info: ${n}: verified, from ${mirror.base}/good/${n}`));
    expect((await loadFashionMnist(cache)).test.labels[42]).toBe(gunzipSync(await readFile(join(DEBIAN_DIR, GZ[3])))[8 + 42]);
  });

  it('accepts a server that sends the files with Content-Encoding: gzip (decoded on the way)', async () => {
    const found = await httpSource(`${mirror.base}/encoded`, fast).fetch(TEST_LABELS, recorder().log);
    expect(sha256(found.bytes)).toBe(sha256(gunzipSync(await readFile(join(DEBIAN_DIR, GZ[3])))));
  });

  it('gives up on a server that stalls mid-body after its retries, and stops asking it', async () => {
    const err = await fetchError(httpSource(`${mirror.base}/stall`, fast), TEST_LABELS);
    expect(err.message).toBe('stalled: no data for 400 ms after 1000 bytes (gave up after 2 tries)');
    expect(err.wholeSource).toBe(true);

    const cache = join(dir(), 'cache');
    const { log, lines } = recorder();
    const before = mirror.hits.length;
    await acquireDataset({ cacheDir: cache, sources: [httpSource(`${mirror.base}/stall`, fast), httpSource(`${mirror.base}/good`, fast)], log });
    const stalled = mirror.hits.slice(before).filter((h) => h.startsWith('/stall/'));
    expect(stalled).toEqual([`/stall/${GZ[0]}`, `/stall/${GZ[0]}`]);
    expect(lines[0]).toBe(`warn: ${mirror.base}/stall/${GZ[0]}: stalled: no data for 400 ms after 1000 bytes; trying again in 50 ms (try 2 of 2)`);
    expect(lines.filter((l) => l.startsWith('info:'))).toEqual(GZ.map((n) => `info: ${n}: verified, from ${mirror.base}/good/${n}`));
  });

  it('times out on a server that never answers', async () => {
    const err = await fetchError(httpSource(`${mirror.base}/hang`, { ...fast, attempts: 1 }), TEST_LABELS);
    expect(err.message).toBe('no response within 400 ms (gave up after 1 tries)');
  });

  it('reports a connection dropped mid-body, and retries it', async () => {
    const size = (await stat(join(DEBIAN_DIR, GZ[0]))).size;
    const err = await fetchError(httpSource(`${mirror.base}/drop`, fast), TRAIN_IMAGES);
    expect(err.message).toMatch(new RegExp(`^connection dropped after \\d+ of ${size} bytes \\(.+\\) \\(gave up after 2 tries\\)$`));

    const { log, lines } = recorder();
    const found = await httpSource(`${mirror.base}/flaky`, fast).fetch(TRAIN_IMAGES, log);
    expect(sha256(found.bytes)).toBe(sha256(await readFile(join(DEBIAN_DIR, GZ[0]))));
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^warn: ${mirror.base}/flaky/${GZ[0]}: connection dropped after \\d+ of ${size} bytes .*; trying again in 50 ms \\(try 2 of 2\\)$`))]);
  });

  it('does not retry a 404 (that file only) nor an unknown host (the whole mirror)', async () => {
    const missing = await fetchError(httpSource(`${mirror.base}/nothing-here`, fast), TEST_LABELS);
    expect(missing.message).toBe('HTTP 404 Not Found');
    expect(missing.wholeSource).toBe(false);
    const unknown = await fetchError(httpSource('http://cnn-lens-no-such-host.invalid', fast), TEST_LABELS);
    expect(unknown.message).toMatch(/ENOTFOUND/);
    expect(unknown.wholeSource).toBe(true);
  });
});

describe('apt-get download (e)', () => {
  it('is skipped when turned off', async () => {
    const err = await aptSource({ disabled: 'turned off by CNN_LENS_NO_APT=1' }).fetch(TEST_LABELS, recorder().log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).message).toBe('turned off by CNN_LENS_NO_APT=1');
  });

  it.skipIf(!hasApt)('fetches the Debian package without root and unpacks it into a temp folder, removed after', async () => {
    const source = aptSource();
    const { log, lines } = recorder();
    const found = await source.fetch(TEST_LABELS, log);
    const again = await source.fetch(DATASET_FILES[1], log);
    expect(lines).toHaveLength(1);
    const temp = /\(into (.+)\)$/.exec(lines[0])![1];
    expect(lines[0]).toBe(`info: apt-get download dataset-fashion-mnist (into ${temp})`);
    expect(found.origin).toMatch(/^dataset-fashion-mnist_.+_all\.deb:\/usr\/share\/datasets\/fashion-mnist\/t10k-labels-idx1-ubyte\.gz$/);
    expect(sha256(found.bytes)).toBe(sha256(await readFile(join(DEBIAN_DIR, GZ[3]))));
    expect(sha256(again.bytes)).toBe(sha256(await readFile(join(DEBIAN_DIR, GZ[1]))));
    expect(await stat(temp).catch(() => null)).not.toBeNull();
    await source.close!();
    expect(await stat(temp).catch(() => null)).toBeNull();
  });
});

describe('when every source fails', () => {
  const mirror = new Mirror();
  beforeAll(() => mirror.start());
  afterAll(() => mirror.stop());

  it('throws one plain error listing each source, why it failed, and the fixes', async () => {
    const cache = join(dir(), 'cache');
    const env = { CNN_LENS_DEBIAN_DIR: '/nonexistent/fashion-mnist', CNN_LENS_MIRRORS: `${mirror.base}/nothing-here,http://cnn-lens-no-such-host.invalid`, CNN_LENS_NO_APT: '1' };
    const err = await acquireError(cache, datasetSources(undefined, env), recorder().log);
    const lines = err.message.split('\n');
    expect(lines[0]).toBe(`Fashion-MNIST: no source gave a verified copy of ${GZ.join(', ')}. Sources tried, in order:`);
    expect(lines[1]).toBe(`  1. cache ${cache}: missing`);
    expect(lines[2]).toBe('  2. --data-dir / FASHION_MNIST_DIR: not given');
    expect(lines[3]).toBe('  3. Debian package dataset-fashion-mnist at /nonexistent/fashion-mnist: no folder /nonexistent/fashion-mnist (the package is not installed)');
    expect(lines[4]).toBe(`  4. ${mirror.base}/nothing-here: HTTP 404 Not Found`);
    expect(lines[5]).toMatch(/^ {2}5\. http:\/\/cnn-lens-no-such-host\.invalid: .*ENOTFOUND/);
    expect(lines[6]).toBe('  6. apt-get download dataset-fashion-mnist: turned off by CNN_LENS_NO_APT=1');
    expect(lines[7]).toBe(
      "Fixes: install Debian's copy (sudo apt-get install dataset-fashion-mnist); or put the four files (.gz or raw IDX) in a folder and pass --data-dir <dir> (or set FASHION_MNIST_DIR); or make one of the mirrors reachable (CNN_LENS_MIRRORS=\"url1,url2\" replaces the default ones).",
    );
    expect(lines).toHaveLength(8);
    // Nothing half-written: the cache holds no dataset file and no manifest.
    expect(await readdir(cache)).toEqual([]);
  });
});

describe('the download step', () => {
  it('writes the cache outside the run folder and depends on no run parameter', () => {
    expect(downloadStep.staged).toBe(false);
    expect(pathsOf(downloadStep.inputs({} as never))).toEqual([]);
    const store = new RunStore('/a', 'r');
    expect(store.dataDir).toBe('/a/data/fashion-mnist');
    expect(pathsOf(downloadStep.outputs(store))).toEqual([...GZ.map((n) => `/a/data/fashion-mnist/${n}`), '/a/data/fashion-mnist/manifest.json']);
  });

  it('from the CLI: fills the cache from Debian, repairs a changed file, and fails with exit 1 when nothing works', async () => {
    const artifacts = dir();
    const env = { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' };
    const first = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`${GZ[0]}: verified, from ${join(DEBIAN_DIR, GZ[0])}`);

    let started = performance.now();
    const again = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts], env);
    console.log(`second \`--only download\` (a no-op), wall clock with tsx start-up: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/download: up to date, skipped/);

    // A flipped byte, size and mtime restored: the step (re-run because its output digest
    // changed) catches it by the hash of the cached .gz and repairs it from Debian's folder.
    const cache = join(artifacts, 'data', 'fashion-mnist');
    const path = join(cache, GZ[1]);
    const bytes = await readFile(path);
    const { mtime, atime } = await stat(path);
    bytes[bytes.length - 300] ^= 0x10;
    await writeFile(path, bytes);
    await utimes(path, atime, mtime);
    started = performance.now();
    const repaired = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts], env);
    console.log(`\`--only download\` repairing one file: ${((performance.now() - started) / 1000).toFixed(2)} s`);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stderr).toContain(`warning: ${path} changed since it was verified and fails verification (damaged gzip data`);
    expect(repaired.stdout).toContain(`${GZ[1]}: verified, from ${join(DEBIAN_DIR, GZ[1])}`);
    expect(sha256(await readFile(path))).toBe(sha256(await readFile(join(DEBIAN_DIR, GZ[1]))));

    await unlink(join(cache, GZ[3]));
    const failed = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts], { ...env, CNN_LENS_DEBIAN_DIR: join(artifacts, 'no-debian') });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`no source gave a verified copy of ${GZ[3]}. Sources tried, in order:`);
    expect(failed.stderr).toContain(`  1. cache ${cache}: missing`);
    expect(failed.stderr).toContain('Fixes: install Debian');
  });

  it('takes --data-dir from the CLI', async () => {
    const artifacts = dir();
    const data = await copyOfDebian();
    const r = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts, '--data-dir', data], { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${GZ[0]}: verified, from ${join(data, GZ[0])}`);
  });
});
