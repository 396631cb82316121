/**
 * --image end to end with the real CLI, on a copy of the suite's tiny run: the reader's pictures
 * (a PNG and a JPEG of a dark boot on white, drawn here) are checked, copied into the run and put
 * through the own-images step; only that step, the figures and the report re-run. Bad files are
 * refused before anything decodes them, with nothing written.
 */
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readNpy } from '../pipeline/catalog/npy.js';
import type { ImageInputs, OwnImagesIndex } from '../pipeline/catalog/schema.js';
import { sha256 } from '../pipeline/core/hash.js';
import type { RunManifest } from '../pipeline/core/manifest.js';
import { decodeImage } from '../pipeline/data/image-decode.js';
import { parseCli } from '../pipeline/cli.js';
import { RunStore } from '../pipeline/catalog/store.js';
import { BadInputError, exitCodeOf } from '../pipeline/core/errors.js';
import { checkImageOption } from '../pipeline/image-option.js';
import { saveModel } from '../pipeline/catalog/model-io.js';
import { CLASS_NAMES } from '../pipeline/catalog/schema.js';
import { PROJECT_ROOT } from '../pipeline/core/manifest.js';
import { PROFILE_DEFAULTS } from '../pipeline/core/params.js';
import { createPageRenderer } from '../pipeline/render/report-html.js';
import { initTf } from '../pipeline/tfjs/backend.js';
import { tf } from '../pipeline/tfjs/tf.js';
import { ownImagesStep } from '../steps/own-images.js';
import { ownImagesSection } from '../steps/report/beyond-own-images.js';
import { stepContext } from './helpers/step-context.js';
import { readJson, runCli, tempDir } from './helpers.js';

const tinyRun = inject('tinyRun');
const tinyArgs = inject('tinyArgs');
// A folder of this file's own, with the tiny run's dataset cache (its links and manifest) beside the copy.
const root = tempDir('cnn-lens-own-images-');
const artifacts = join(root, 'artifacts');
const RUN = 'own-images';
const runDir = join(artifacts, 'runs', RUN);
const pictures = join(root, 'pictures');

/** The tiny run's options with this file's run id: the same run, so every earlier step is up to date. */
const baseArgs = () => {
  const args = [...tinyArgs];
  args[args.indexOf('--run') + 1] = RUN;
  return [...args, '--artifacts', artifacts];
};

interface Outcome {
  run_id: string;
  status: string;
  exit_code: number;
  ran: { step: string }[];
  skipped: { step: string }[];
  error: { message: string } | null;
}

function pipeline(...extra: string[]): { code: number | null; outcome: Outcome; stderr: string } {
  const r = runCli('pipeline/main.ts', [...baseArgs(), '--json', ...extra], { CNN_LENS_MIRRORS: '', CNN_LENS_NO_APT: '1' });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let outcome: Outcome;
  try {
    outcome = JSON.parse(last) as Outcome;
  } catch {
    throw new Error(`no JSON outcome (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, outcome, stderr: r.stderr };
}

/** A dark ankle boot (shaft, foot, sole) on white, as RGBA: what a reader photographs on a sheet of paper. */
function boot(width: number, height: number, shift = 0): { width: number; height: number; data: Buffer } {
  const data = Buffer.alloc(width * height * 4, 255);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width - shift;
      const v = y / height;
      const shaft = u > 0.55 && u < 0.85 && v > 0.15 && v < 0.8;
      const foot = u > 0.12 && u < 0.85 && v > 0.55 && v < 0.8;
      const sole = u > 0.1 && u < 0.88 && v >= 0.8 && v < 0.86;
      if (shaft || foot || sole) data.set([40, 32, 28], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

function pngOf(img: { width: number; height: number; data: Buffer }): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  img.data.copy(png.data);
  return PNG.sync.write(png);
}

/** Every file under a folder (hidden ones and the lock included) with its size and modification time. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const s = await stat(p);
        out.push(`${relative(dir, p)} ${s.size} ${s.mtimeMs}`);
      }
    }
  };
  await walk(dir);
  return out.sort();
}

const steps = (o: Outcome, key: 'ran' | 'skipped') => o[key].map((s) => s.step);
const startedOf = (m: RunManifest) => Object.fromEntries(Object.entries(m.steps).map(([k, r]) => [k, r.started]));

const files = { png: join(pictures, 'boot.png'), jpg: join(pictures, 'boot photo.jpg'), other: join(pictures, 'other-boot.jpg') };
let before: RunManifest;
let first: ReturnType<typeof pipeline>;

beforeAll(async () => {
  // Not a lock that another suite may hold at this moment.
  const filter = (src: string) => !/[\\/]\.lock|\.tmp$/.test(src);
  await cp(tinyRun, runDir, { recursive: true, filter });
  await cp(join(dirname(dirname(tinyRun)), 'data'), join(artifacts, 'data'), { recursive: true, filter });
  await mkdir(pictures);
  await writeFile(files.png, pngOf(boot(160, 120)));
  await writeFile(files.jpg, jpeg.encode(boot(200, 150), 90).data);
  await writeFile(files.other, jpeg.encode(boot(180, 150, 0.05), 90).data);
  before = await readJson<RunManifest>(join(runDir, 'run.json'));
  first = pipeline('--image', files.png, '--image', files.jpg);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('--image', () => {
  it('re-runs only own-images, figures and report, and keeps the run id', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.outcome.run_id).toBe(RUN);
    expect(steps(first.outcome, 'ran')).toEqual(['own-images', 'figures', 'report']);
    const after = await readJson<RunManifest>(join(runDir, 'run.json'));
    expect(after.run_id).toBe(RUN);
    const was = startedOf(before);
    const now = startedOf(after);
    for (const step of Object.keys(after.steps)) {
      expect({ step, status: after.steps[step].status }).toEqual({ step, status: 'ok' });
      const reran = now[step] !== was[step];
      expect({ step, reran }).toEqual({ step, reran: ['own-images', 'figures', 'report'].includes(step) });
    }
    // The pictures are no part of the derived run id either.
    const derived = tinyArgs.filter((_, i) => tinyArgs[i] !== '--run' && tinyArgs[i - 1] !== '--run');
    expect(parseCli([...derived, '--image', files.png]).runId).toBe(parseCli(derived).runId);
  });

  it('copies the pictures into the run, byte for byte, named by position and format', async () => {
    const index = await readJson<ImageInputs>(join(runDir, 'inputs', 'images', 'index.json'));
    expect(index.images.map((i) => [i.file, i.name, i.format, i.width, i.height])).toEqual([
      ['1-boot.png', 'boot.png', 'png', 160, 120],
      ['2-boot_photo.jpg', 'boot photo.jpg', 'jpeg', 200, 150],
    ]);
    for (const [img, original] of [[index.images[0], files.png], [index.images[1], files.jpg]] as const) {
      const copy = await readFile(join(runDir, 'inputs', 'images', img.file));
      expect(copy.equals(await readFile(original))).toBe(true);
      expect(img.sha256).toBe(sha256(copy));
    }
  });

  it('converts each to a 28 x 28 bright boot on black, predicts it, and saves its maps and Grad-CAM', async () => {
    const index = await readJson<OwnImagesIndex>(join(runDir, 'own-images', 'index.json'));
    expect(index.has_conv).toBe(true);
    expect(index.images.map((i) => i.id)).toEqual(['image-1', 'image-2']);
    for (const img of index.images) {
      const input = await readNpy(join(runDir, 'own-images', img.input));
      expect(input.shape).toEqual([28, 28]);
      const at = (x: number, y: number) => input.data[y * 28 + x];
      expect(img.conversion.inverted).toBe(true);
      // The boot is wider than tall: its width fills the 28 columns, as a wide garment's does in
      // Fashion-MNIST, and the rows above and below it are the canvas's black.
      const { width, height } = img.conversion.fitted;
      expect(width).toBe(28);
      const top = Math.floor((28 - height) / 2);
      const rows = (from: number, to: number) => Array.from(input.data.subarray(from * 28, to * 28));
      expect(Math.max(...rows(0, top), ...rows(top + height, 28))).toBe(0);
      const border = [...Array(28).keys()].flatMap((i) => [at(i, 0), at(i, 27), at(0, i), at(27, i)]);
      expect(border.reduce((a, b) => a + b, 0) / border.length).toBeLessThan(0.25);
      // The white sheet above the foot, left of the shaft, is dark too; the boot is bright.
      const sheet = [];
      for (let y = top; y < top + Math.floor(height * 0.4); y++) for (let x = 0; x < 12; x++) sheet.push(at(x, y));
      expect(Math.max(...sheet)).toBeLessThan(0.05);
      // The boot's dark brown (grey 34 of 255) inverted against the white sheet: 221/255.
      expect(Math.max(...input.data)).toBeCloseTo(221 / 255, 1);
      expect(Math.min(...input.data)).toBeGreaterThanOrEqual(0);
      expect(img.probabilities).toHaveLength(10);
      expect(img.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(img.prediction).toBe(img.probabilities.indexOf(Math.max(...img.probabilities)));
      expect(img.layers.map((l) => [l.layer, l.shape])).toEqual([
        ['conv2d', [1, 28, 28, 32]],
        ['max_pooling2d', [1, 14, 14, 32]],
        ['conv2d_1', [1, 14, 14, 64]],
        ['max_pooling2d_1', [1, 7, 7, 64]],
      ]);
      for (const l of img.layers) expect((await readNpy(join(runDir, 'own-images', l.file))).shape).toEqual(l.shape);
      expect(img.attention?.layer).toBe('conv2d_1');
      for (const f of [img.attention!.cam, img.attention!.saliency]) {
        const t = await readNpy(join(runDir, 'own-images', f));
        expect(t.shape).toEqual([28, 28]);
        expect(Math.max(...t.data)).toBeCloseTo(1, 5);
      }
    }
    const figures = (await readJson<{ figures: { name: string }[] }>(join(runDir, 'figures', 'index.json'))).figures.map((f) => f.name);
    for (const id of ['image-1', 'image-2']) expect(figures).toEqual(expect.arrayContaining([`own-${id}`, `own-${id}-prediction`, `own-${id}-maps`]));
    const html = await readFile(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain('data-own-image="image-2"');
    expect(html).toContain('id="fig-own-image-1-maps"');
    expect(html).not.toContain('data-empty="own-images"');
  });

  it('re-runs only own-images, figures and report when one picture changes, and keeps the pictures without --image', async () => {
    const changed = pipeline('--image', files.png, '--image', files.other);
    expect(changed.code, changed.stderr).toBe(0);
    expect(steps(changed.outcome, 'ran')).toEqual(['own-images', 'figures', 'report']);
    const again = pipeline();
    expect(again.code, again.stderr).toBe(0);
    expect(steps(again.outcome, 'ran')).toEqual([]);
    const index = await readJson<OwnImagesIndex>(join(runDir, 'own-images', 'index.json'));
    expect(index.images.map((i) => i.source.name)).toEqual(['boot.png', 'other-boot.jpg']);
  });

  it('removes the pictures with --no-images', async () => {
    const removed = pipeline('--no-images', '--to', 'own-images');
    expect(removed.code, removed.stderr).toBe(0);
    expect(steps(removed.outcome, 'ran')).toEqual(['own-images']);
    await expect(stat(join(runDir, 'inputs', 'images'))).rejects.toThrow(/ENOENT/);
    expect(await readJson(join(runDir, 'own-images', 'index.json'))).toEqual({ images: [], has_conv: null });
  });

  it('says in a run without pictures how to add them', async () => {
    const html = await readFile(join(tinyRun, 'report.html'), 'utf8');
    expect(html).toMatch(/<p data-empty="own-images">[^<]+<code>npm run pipeline -- --image &lt;file&gt;<\/code>[^<]+<\/p>/);
  });

  it('refuses a non-image, an empty file and a 20,000 px header before decoding, and damaged data, naming the file, with nothing written', async () => {
    // A PNG signature and an IHDR chunk that claims 20,000 x 20,000 px, then nothing: no image
    // data at all, so a decoder would fail on the data, with its own message, not ours.
    const huge = Buffer.alloc(33);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]).copy(huge, 0);
    huge.write('IHDR', 12, 'latin1');
    huge.writeUInt32BE(20_000, 16);
    huge.writeUInt32BE(20_000, 20);
    huge.set([8, 6, 0, 0, 0], 24);
    const decoderSays = (() => {
      try {
        decodeImage(huge, 'png');
        return 'decoded';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(decoderSays).not.toMatch(/20000|10,000/);
    const cases = [
      { file: join(pictures, 'huge.png'), bytes: huge, says: /its header claims 20000 x 20000 px, over the limit of 10,000 px a side/ },
      { file: join(pictures, 'notes.txt'), bytes: Buffer.from('not a picture at all\n'), says: /neither a PNG nor a JPEG \(its first bytes are 6e 6f 74/ },
      { file: join(pictures, 'empty.png'), bytes: Buffer.alloc(0), says: /the file is empty \(0 bytes\)/ },
      // A sound header and cut-short data: only decoding finds it, still before anything is written.
      { file: join(pictures, 'cut.png'), bytes: pngOf(boot(160, 120)).subarray(0, 120), says: /its PNG data cannot be decoded \(.+\); the file is damaged or cut short/ },
    ];
    for (const c of cases) await writeFile(c.file, c.bytes);
    // Through the CLI: exit 2, the file named, the run folder as it was (not even run.json or a lock).
    const untouched = await snapshot(runDir);
    const r = pipeline('--image', files.png, '--image', cases[0].file);
    expect(r.code).toBe(2);
    expect(r.outcome.error?.message).toMatch(cases[0].says);
    expect(r.outcome.error?.message).toContain(`--image ${cases[0].file}:`);
    expect(r.stderr).toContain(cases[0].file);
    expect(await snapshot(runDir)).toEqual(untouched);
    // The same check the CLI ran, in this process (a spawn each would cost seconds): each bad file
    // is bad input (exit 2) naming it, even after a good picture in the list.
    const store = new RunStore(artifacts, RUN);
    for (const c of cases) {
      const refused = await checkImageOption({ images: [files.png, c.file], noImages: false }, store).then(
        () => null,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(BadInputError);
      expect(exitCodeOf(refused)).toBe(2);
      expect((refused as Error).message).toMatch(c.says);
      expect((refused as Error).message).toContain(`--image ${c.file}:`);
    }
  });
});

describe('--image on the command line', () => {
  it('is repeatable, contradicts --no-images, and takes at most 5 pictures', () => {
    expect(parseCli(['--image', 'a.png', '--image', 'b.jpg'], {}).images).toEqual(['a.png', 'b.jpg']);
    expect(parseCli([], {}).images).toBeUndefined();
    expect(parseCli(['--no-images'], {}).noImages).toBe(true);
    expect(() => parseCli(['--image', 'a.png', '--no-images'], {})).toThrow(/--image and --no-images contradict each other/);
    expect(parseCli(Array.from({ length: 5 }, () => ['--image', 'a.png']).flat(), {}).images).toHaveLength(5);
    expect(() => parseCli(Array.from({ length: 6 }, () => ['--image', 'a.png']).flat(), {})).toThrow(/--image was given 6 times: at most 5 pictures/);
    expect(() => parseCli(['--image', ''], {})).toThrow(/--image needs a file/);
  });
});

describe('a model without conv layers', () => {
  it('gets the input and the prediction, and the page says why there is nothing more', async () => {
    await initTf('cpu');
    const store = new RunStore(join(root, 'dense'), 'dense');
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })],
    });
    await saveModel(model, store.model.modelJson);
    model.dispose();
    const png = await readFile(files.png);
    await store.imageInputs.replace([{ name: 'boot.png', format: 'png', width: 160, height: 120, orientation: 1, bytes: png }]);
    await ownImagesStep.run(stepContext(ownImagesStep, { ...PROFILE_DEFAULTS.quick, profile: 'quick', backend: 'cpu', lang: 'en' }, store));
    const index = await store.ownImages.index.read();
    expect(index.has_conv).toBe(false);
    const [img] = index.images;
    expect([img.layers, img.attention]).toEqual([[], null]);
    expect(img.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);

    // The partial alone, in both languages: one sentence why, marked for the checks.
    const dir = join(root, 'templates');
    await mkdir(dir);
    await symlink(join(PROJECT_ROOT, 'templates', 'partials'), join(dir, 'partials'));
    await writeFile(join(dir, 'part.hbs'), '{{> beyond-own-images beyond.own_images}}');
    const renderer = await createPageRenderer(dir);
    const context = { beyond: { own_images: ownImagesSection(index, { figures: [] }, CLASS_NAMES.en) } };
    const en = await renderer.render('part', { ...context, lang: 'en' }, new Map(), 'en');
    expect(en).toMatch(/<p data-empty="own-images">This model has no convolution layers[^<]*<\/p>/);
    expect(en).toContain('<h4 data-own-image="image-1">boot.png</h4>');
    const ko = await renderer.render('part', { ...context, lang: 'ko' }, new Map(), 'ko');
    expect(ko).toMatch(/<p data-empty="own-images">이 모델에는 합성곱 층이 없어서[^<]*<\/p>/);
    const none = await renderer.render('part', { beyond: { own_images: ownImagesSection({ images: [], has_conv: null }, { figures: [] }, CLASS_NAMES.ko) }, lang: 'ko' }, new Map(), 'ko');
    expect(none).toMatch(/<p data-empty="own-images">이 실행에는 직접 준 이미지가 없습니다[^<]*<code>npm run pipeline -- --image &lt;파일&gt;<\/code>[^<]+<\/p>/);
  });
});
