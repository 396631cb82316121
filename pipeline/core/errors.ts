/**
 * Exit-code contract: 0 success, 1 a step failed, 2 bad usage or bad input.
 * Anything thrown that is not a BadInputError counts as a step failure (1).
 */
export class BadInputError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'BadInputError';
  }
}

/** Wrong command line: same exit code as bad input, kept apart so the CLI can add usage help. */
export class UsageError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof BadInputError ? 2 : 1;
}

/** What the file system errors that stop a run mean, and what to do about them. */
const STORAGE: Record<string, [verb: string, meaning: string, fix: string]> = {
  ENOSPC: ['write', 'no space left on the device', 'free space there or pass --artifacts <a folder on a larger disk>, then run the same command again (finished steps and epochs are kept)'],
  EDQUOT: ['write', 'disk quota exceeded', 'free space there or pass --artifacts <a folder on a larger disk>, then run the same command again (finished steps and epochs are kept)'],
  EROFS: ['write', 'read-only file system', 'pass --artifacts <a writable folder>, or remount it read-write'],
  EACCES: ['access', 'permission denied', 'pass --artifacts <a folder you can write>, or give this user write access to it'],
  EPERM: ['access', 'operation not permitted', 'pass --artifacts <a folder you can write>, or give this user write access to it'],
};

/** One line for any error; a file system error says which path, what its code means, and the fix. */
export function messageOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const storage = e && typeof e.code === 'string' ? STORAGE[e.code] : undefined;
  if (storage && e.path) return `cannot ${storage[0]} ${e.path}: ${storage[1]} (${e.code}); ${storage[2]}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * What a failed read of an input means: "missing" (the message `missing()` builds) only when the
 * file is not there; no permission is bad input naming the path; anything else (EIO, ...) is
 * reported as it is, with its path.
 */
export function readFailure(err: unknown, missing: () => BadInputError): Error {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (isAbsent(err)) return missing();
  if (code === 'EACCES' || code === 'EPERM') return new BadInputError(messageOf(err));
  return err instanceof Error ? err : new Error(String(err));
}

/** Whether a file system error means only that the path is not there. */
export function isAbsent(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
