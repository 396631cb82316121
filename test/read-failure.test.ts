/**
 * A read that fails says what happened: "missing" only when the file is not there (ENOENT); no
 * permission is bad input (exit 2) naming the path; anything else (EIO, a folder in place of a
 * file) keeps its own code and path. The suite runs as root, who may read anything: permission
 * errors are made as the file system would make them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpy } from '../pipeline/catalog/npy.js';
import { BadInputError, exitCodeOf, readFailure } from '../pipeline/core/errors.js';
import { digestPaths } from '../pipeline/core/hash.js';
import { readArtifact } from '../pipeline/core/read-artifact.js';
import { HistorySchema } from '../pipeline/catalog/schema.js';
import { tempDir } from './helpers.js';

const fsError = (code: string, path: string) => Object.assign(new Error(`${code}: failed, open '${path}'`), { code, path, syscall: 'open' });
const missing = () => new BadInputError('missing /x: run it again');

describe('readFailure', () => {
  it('says "missing" only for ENOENT and ENOTDIR', () => {
    expect(readFailure(fsError('ENOENT', '/x'), missing).message).toBe('missing /x: run it again');
    expect(readFailure(fsError('ENOTDIR', '/x/y'), missing).message).toBe('missing /x: run it again');
  });

  it('reports no permission as bad input naming the path and the fix', () => {
    const err = readFailure(fsError('EACCES', '/runs/a/checkpoint/metrics.json'), missing);
    expect(err).toBeInstanceOf(BadInputError);
    expect(exitCodeOf(err)).toBe(2);
    expect(err.message).toMatch(/^cannot access \/runs\/a\/checkpoint\/metrics\.json: permission denied \(EACCES\); /);
  });

  it('keeps an I/O error as it is (exit 1), never "missing"', () => {
    const io = fsError('EIO', '/runs/a/weights/stats.json');
    const err = readFailure(io, missing);
    expect(err).toBe(io);
    expect(exitCodeOf(err)).toBe(1);
  });
});

describe('the readers use it', () => {
  it('a folder in place of a tensor or an artifact is not reported as missing', async () => {
    const dir = tempDir();
    const npy = join(dir, 'kernel.npy');
    mkdirSync(npy);
    await expect(readNpy(npy)).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(readNpy(join(dir, 'absent.npy'))).rejects.toThrow(`missing ${join(dir, 'absent.npy')}`);
    const json = join(dir, 'history.json');
    mkdirSync(json);
    await expect(readArtifact(HistorySchema, json, 'fix')).rejects.toThrow(`${json} is a folder, not a JSON file: fix`);
  });

  it('digests count only an absent path as "missing"', async () => {
    const dir = tempDir();
    const absent = await digestPaths([join(dir, 'absent')]);
    expect(await digestPaths([join(dir, 'absent')])).toBe(absent);
    // A path through a file (ENOTDIR) is absent too; a path that cannot be stat'ed otherwise would throw.
    expect(typeof (await digestPaths([join(dir, 'absent', 'deeper')]))).toBe('string');
  });
});
