import type { DatasetFile } from '../../catalog/dataset.js';
import type { Logger } from '../../core/log.js';

/** A dataset file's bytes as a source has them: gzip or raw IDX (verification tells them apart). */
export interface Fetched {
  bytes: Uint8Array;
  /** Where exactly they came from (a path, a URL, a .deb), recorded in the cache manifest. */
  origin: string;
}

/** One place the dataset may come from; the download chain asks each in turn. */
export interface Source {
  /** Names the source in logs and in the all-sources-failed message, e.g. "--data-dir /data". */
  label: string;
  fetch(file: DatasetFile, log: Logger): Promise<Fetched>;
  /** Releases what the source set up (temp folders). */
  close?(): Promise<void>;
}

/** Why a source could not give a file. */
export class SourceError extends Error {
  /** True when the source cannot give any other file either, so the chain stops asking it. */
  readonly wholeSource: boolean;
  constructor(message: string, wholeSource = false) {
    super(message);
    this.name = 'SourceError';
    this.wholeSource = wholeSource;
  }
}
