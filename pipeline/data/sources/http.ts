import { setTimeout as sleep } from 'node:timers/promises';
import { gzName, type DatasetFile } from '../../catalog/dataset.js';
import type { Logger } from '../../core/log.js';
import { SourceError, type Source } from './source.js';

/** The publishers named in REFERENCE.md: Zalando's own mirror, then the Keras datasets mirror. */
export const DEFAULT_MIRRORS = [
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com',
  'https://storage.googleapis.com/tensorflow/tf-keras-datasets',
];

export interface HttpOptions {
  /** Longest wait for the response headers. */
  connectTimeoutMs: number;
  /** Longest wait between two chunks of the body (a stalled server). */
  readTimeoutMs: number;
  /** Tries per file, the first included. */
  attempts: number;
  /** Wait before the second try; doubled before each next one. */
  backoffMs: number;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = { connectTimeoutMs: 15_000, readTimeoutMs: 30_000, attempts: 3, backoffMs: 1_000 };

/**
 * One try that failed, and what follows: `retry` (a timeout, a dropped connection, a 5xx), `file`
 * (this file is not there: a 4xx), `source` (the mirror cannot serve anything: unknown host).
 */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly next: 'retry' | 'file' | 'source',
  ) {
    super(message);
  }
}

/** undici hides the socket error under `cause`; its code (ENOTFOUND, ECONNRESET...) is what tells. */
function networkReason(err: unknown): { text: string; code?: string } {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code;
  const text = cause?.message ?? (err as Error).message;
  return { text: code && !text.includes(code) ? `${code} ${text}` : text, code };
}

/** Codes after which a retry cannot help: the host does not exist or the URL is malformed. */
const FINAL_CODES = new Set(['ENOTFOUND', 'ERR_INVALID_URL']);

async function getOnce(url: string, options: HttpOptions, onBytes: (got: number, total: number) => void): Promise<Uint8Array> {
  const controller = new AbortController();
  let timedOut = '';
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number, why: () => string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = why();
      controller.abort();
    }, ms);
  };
  try {
    arm(options.connectTimeoutMs, () => `no response within ${options.connectTimeoutMs} ms`);
    let response: Response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch (err) {
      if (timedOut) throw new AttemptError(timedOut, 'retry');
      const { text, code } = networkReason(err);
      throw new AttemptError(text, FINAL_CODES.has(code ?? '') ? 'source' : 'retry');
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      const status = response.status;
      throw new AttemptError(`HTTP ${status} ${response.statusText}`.trim(), status >= 500 || status === 408 || status === 429 ? 'retry' : 'file');
    }
    // With a Content-Encoding, fetch decodes the body and the length no longer counts its bytes.
    const encoded = response.headers.get('content-encoding');
    const total = encoded ? 0 : Number(response.headers.get('content-length') ?? 0);
    const chunks: Uint8Array[] = [];
    let got = 0;
    const reader = response.body.getReader();
    try {
      for (;;) {
        arm(options.readTimeoutMs, () => `stalled: no data for ${options.readTimeoutMs} ms after ${got} bytes`);
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        got += value.byteLength;
        onBytes(got, total);
      }
    } catch (err) {
      throw new AttemptError(timedOut || `connection dropped after ${got}${total ? ` of ${total}` : ''} bytes (${networkReason(err).text})`, 'retry');
    }
    if (total && got !== total) throw new AttemptError(`connection closed after ${got} of ${total} bytes`, 'retry');
    return Buffer.concat(chunks, got);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An HTTP(S) mirror serving `<base>/<name>.gz`, with timeouts and retries with backoff. A mirror
 * that stays unreachable after its retries is not asked for the remaining files.
 */
export function httpSource(base: string, options: HttpOptions = DEFAULT_HTTP_OPTIONS): Source {
  const root = base.replace(/\/+$/, '');
  return {
    label: root,
    async fetch(file: DatasetFile, log: Logger) {
      const url = `${root}/${gzName(file)}`;
      for (let attempt = 1; ; attempt++) {
        let bar: ReturnType<Logger['progress']> | undefined;
        try {
          const bytes = await getOnce(url, options, (got, total) => {
            bar ??= log.progress(`download ${gzName(file)}`, total || got, 'bytes');
            bar.update(got);
          });
          return { bytes, origin: url };
        } catch (err) {
          if (!(err instanceof AttemptError)) throw err;
          if (err.next !== 'retry') throw new SourceError(err.message, err.next === 'source');
          if (attempt >= options.attempts) throw new SourceError(`${err.message} (gave up after ${attempt} tries)`, true);
          const wait = options.backoffMs * 2 ** (attempt - 1);
          log.warn(`${url}: ${err.message}; trying again in ${wait} ms (try ${attempt + 1} of ${options.attempts})`);
          await sleep(wait);
        } finally {
          bar?.stop();
        }
      }
    },
  };
}

/** Mirror base URLs: CNN_LENS_MIRRORS="url1,url2" replaces the defaults (empty: no HTTP at all). */
export function mirrorsFrom(env: NodeJS.ProcessEnv): string[] {
  const value = env.CNN_LENS_MIRRORS;
  if (value === undefined) return DEFAULT_MIRRORS;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** CNN_LENS_HTTP_TIMEOUT_MS shortens both timeouts (tests; slow links may lengthen them). */
export function httpOptionsFrom(env: NodeJS.ProcessEnv): HttpOptions {
  const ms = Number(env.CNN_LENS_HTTP_TIMEOUT_MS);
  if (!env.CNN_LENS_HTTP_TIMEOUT_MS || !Number.isFinite(ms) || ms <= 0) return DEFAULT_HTTP_OPTIONS;
  return { ...DEFAULT_HTTP_OPTIONS, connectTimeoutMs: ms, readTimeoutMs: ms };
}
