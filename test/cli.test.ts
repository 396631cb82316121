import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../pipeline/cli.js';
import { UsageError, BadInputError } from '../pipeline/core/errors.js';
import { recordedParams } from '../pipeline/core/params.js';
import { trainStep } from '../steps/train.js';
import { STEP_NAMES } from '../steps/index.js';
import { runCli, tempDir } from './helpers.js';

const hasTfjsNode = (() => {
  try {
    createRequire(import.meta.url)('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

describe('parseCli', () => {
  it('defaults to the book profile and all steps', () => {
    const o = parseCli([], {});
    expect(o.params).toMatchObject({ profile: 'book', seed: 42, epochs: 20, batchSize: 32, patience: 2, trainSize: 48000, valSize: 12000, backend: 'auto', lang: 'en' });
    expect(o.steps).toEqual([...STEP_NAMES]);
    expect(o.runId).toBe('book');
    expect(o.artifacts).toBe('artifacts');
  });

  it('derives a stable run id from the profile and overrides', () => {
    expect(parseCli(['--profile', 'quick', '--seed', '7', '--epochs', '2'], {}).runId).toBe('quick-seed7-epochs2');
    expect(parseCli(['--profile', 'quick', '--epochs', '2', '--seed', '7'], {}).runId).toBe('quick-seed7-epochs2');
    expect(parseCli(['--backend', 'cpu'], {}).runId).toBe('book-cpu');
    expect(parseCli(['--lang', 'ko'], {}).runId).toBe('book');
  });

  it('selects steps with --only, --from and --to in pipeline order', () => {
    expect(parseCli(['--only', 'report,download'], {}).steps).toEqual(['download', 'report']);
    // Every step from weights on, whatever steps beyond the chapter sit between feature-maps and figures.
    expect(parseCli(['--from', 'weights'], {}).steps).toEqual(STEP_NAMES.slice(STEP_NAMES.indexOf('weights')));
    expect(parseCli(['--from', 'weights'], {}).steps.slice(-2)).toEqual(['figures', 'report']);
    expect(parseCli(['--to', 'checkpoint'], {}).steps).toEqual(['download', 'train', 'checkpoint']);
    expect(parseCli(['--from', 'train', '--to', 'checkpoint'], {}).steps).toEqual(['train', 'checkpoint']);
  });

  it('takes the data dir from --data-dir or FASHION_MNIST_DIR', () => {
    expect(parseCli(['--data-dir', '/x'], { FASHION_MNIST_DIR: '/y' }).params.dataDir).toBe('/x');
    expect(parseCli([], { FASHION_MNIST_DIR: '/y' }).params.dataDir).toBe('/y');
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--only', 'trian'], /--only "trian" is not valid: use one of download, train, checkpoint/],
    [['--from', 'report', '--to', 'train'], /--from report comes after --to train/],
    [['--only', 'train', '--from', 'download'], /--only cannot be combined/],
    [['--profile', 'fast'], /--profile "fast" is not valid: use one of book, quick/],
    [['--backend', 'gpu'], /use one of auto, tensorflow, wasm, cpu/],
    [['--epochs', '0'], /--epochs "0" is not valid: give a whole number from 1/],
    [['--epochs=-3'], /--epochs "-3" is not valid/],
    [['--epochs', '-3'], /Option '--epochs' argument is ambiguous/],
    [['--batch-size', '0'], /--batch-size "0"/],
    [['--batch-size', '2.5'], /--batch-size "2.5"/],
    [['--seed', 'abc'], /--seed "abc"/],
    [['--train-size', '50000', '--val-size', '20000'], /exceeds the 60000 training images/],
    [['--train-size', '70000'], /--train-size "70000"/],
    [['--profile', 'quick', '--train-size', '16', '--batch-size', '32'], /larger than --train-size/],
    [['extra'], /unexpected argument "extra"/],
    [['--dropout', '1'], /--dropout "1" is not valid: give a rate from 0 up to \(not including\) 1/],
    [['--dropout=-0.1'], /--dropout "-0.1" is not valid/],
    [['--dropout', '0x1'], /--dropout "0x1" is not valid/],
    [['--learning-rate', '0'], /--learning-rate "0" is not valid: give a number above 0/],
    [['--learning-rate', '1e400'], /--learning-rate "1e400" is not valid/],
    [['--model', 'm.keras', '--dropout', '0.3'], /--dropout only applies to training, and --model takes a trained model/],
    [['--model', 'm.keras', '--learning-rate', '0.01', '--epochs', '2'], /--epochs, --learning-rate only apply to training/],
  ])('rejects %j', (args, message) => {
    expect(() => parseCli(args as string[], {})).toThrow(UsageError);
    expect(() => parseCli(args as string[], {})).toThrow(message);
  });

  it('--dropout and --learning-rate: recorded, and in the run id and the train fingerprint only when not the default', () => {
    const book = parseCli([], {});
    expect(book.params).toMatchObject({ dropout: 0.4, learningRate: 0.001 });
    // What the train fingerprint's params part hashes: for the defaults, exactly the object it
    // hashed before the options existed, so runs made then stay up to date.
    const before = { seed: 42, epochs: 20, batchSize: 32, patience: 2, trainSize: 48000, valSize: 12000 };
    expect(trainStep.params(book.params)).toEqual(before);
    const explicit = parseCli(['--dropout', '0.40', '--learning-rate', '1e-3'], {});
    expect(explicit.runId).toBe('book');
    expect(trainStep.params(explicit.params)).toEqual(before);
    // An older run.json's params have neither: the defaults.
    const { dropout, learningRate, ...older } = book.params;
    expect([dropout, learningRate]).toEqual([0.4, 0.001]);
    expect(trainStep.params(older)).toEqual(before);

    const other = parseCli(['--profile', 'quick', '--seed', '3', '--dropout', '0.3', '--learning-rate', '5e-4'], {});
    expect(other.runId).toBe('quick-seed3-dropout0.3-lr0.0005');
    expect(other.params).toMatchObject({ dropout: 0.3, learningRate: 0.0005 });
    expect(trainStep.params(other.params)).toEqual({ seed: 3, epochs: 3, batchSize: 32, patience: 2, trainSize: 6000, valSize: 1500, dropout: 0.3, learningRate: 0.0005 });
    expect(parseCli(['--dropout', '0'], {}).runId).toBe('book-dropout0');
    expect(parseCli(['--learning-rate', '0.01', '--backend', 'cpu'], {}).runId).toBe('book-lr0.01-cpu');
    // run.json records them; a run of an imported model records no training params.
    expect(recordedParams(other.params)).toMatchObject({ dropout: 0.3, learningRate: 0.0005 });
    const imported = recordedParams({ ...book.params, model: { path: '/m.keras', sha256: 'x', format: 'keras3', keras_version: null, date_saved: null } });
    expect('dropout' in imported || 'learningRate' in imported).toBe(false);
  });

  it.each(['../x', 'a/b', '..', '<script>', '.hidden', 'a b', ''])('refuses the run id %j', (id) => {
    expect(() => parseCli(['--run', id], {})).toThrow(BadInputError);
    expect(() => parseCli(['--run', id], {})).toThrow(/bad run id/);
  });
});

describe('the pipeline command', () => {
  it('--help lists the steps in order and every option', () => {
    const r = runCli('pipeline/main.ts', ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(STEP_NAMES.join(' -> '));
    for (const opt of ['--profile', '--run', '--artifacts', '--only', '--from', '--to', '--force', '--seed', '--backend', '--data-dir', '--lang', '--epochs', '--batch-size', '--patience', '--train-size', '--val-size', '--dropout', '--learning-rate', '--version']) {
      expect(r.stdout).toContain(opt);
    }
  });

  it('--version prints the versions of cnn-lens and TensorFlow.js, as installed, and writes nothing', async () => {
    const { readFile } = await import('node:fs/promises');
    const { PROJECT_ROOT } = await import('../pipeline/core/manifest.js');
    const own = JSON.parse(await readFile(`${PROJECT_ROOT}/package.json`, 'utf8')) as { version: string };
    const tfjs = JSON.parse(await readFile(`${PROJECT_ROOT}/node_modules/@tensorflow/tfjs/package.json`, 'utf8')) as { version: string };
    const r = runCli('pipeline/main.ts', ['--version', '--artifacts', tempDir()]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`cnn-lens ${own.version}`);
    expect(lines).toContain(`@tensorflow/tfjs ${tfjs.version}`);
    expect(lines.some((l) => l.startsWith('@tensorflow/tfjs-backend-wasm '))).toBe(true);
    expect(lines.some((l) => l.startsWith('@tensorflow/tfjs-node '))).toBe(true);
    expect(lines).toContain(`node ${process.versions.node}`);
  });

  it('exits 2 on bad usage, says what is valid, and writes nothing', () => {
    const artifacts = tempDir();
    for (const args of [['--only', 'nope'], ['--epochs', 'x'], ['--run', '../../etc'], ['--whatever']]) {
      const r = runCli('pipeline/main.ts', [...args, '--artifacts', artifacts]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
      expect(existsSync(join(artifacts, 'runs'))).toBe(false);
    }
    const r = runCli('pipeline/main.ts', ['--only', 'nope']);
    expect(r.stderr).toContain(`use one of ${STEP_NAMES.join(', ')}`);
    expect(STEP_NAMES.slice(0, 5)).toEqual(['download', 'train', 'checkpoint', 'weights', 'feature-maps']);
  });

  it.skipIf(hasTfjsNode)('--backend tensorflow without tfjs-node exits 2 with how to install it', () => {
    const artifacts = tempDir();
    const r = runCli('pipeline/main.ts', ['--backend', 'tensorflow', '--only', 'download', '--artifacts', artifacts]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--backend tensorflow: @tensorflow/tfjs-node is not installed');
    expect(r.stderr).toContain('npm install @tensorflow/tfjs-node@4.22.0');
    expect(existsSync(join(artifacts, 'runs'))).toBe(false);
  });

  it('auto takes wasm here and says why, in the log and in run.json', () => {
    const artifacts = tempDir();
    const r = runCli('pipeline/main.ts', ['--only', 'download', '--artifacts', artifacts]);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(artifacts, 'runs', 'book', 'run.json'), 'utf8')) as { backend: string; backend_reason: string };
    const expected = hasTfjsNode ? 'tensorflow' : 'wasm';
    expect(r.stdout).toContain(`backend: ${expected} (auto: `);
    expect(manifest.backend).toBe(expected);
    expect(manifest.backend_reason).toMatch(/^auto: /);
    // and which kernels run its products and convolutions (the addon npm ci builds)
    if (!hasTfjsNode) expect(manifest.backend_reason).toMatch(/; native kernels \((avx2|portable)\) for products and convolutions$/);
  });
});

