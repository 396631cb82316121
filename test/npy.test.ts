import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { python } from './helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadInputError } from '../pipeline/core/errors.js';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../pipeline/catalog/npy.js';


const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => (i - n / 2) / 7);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npy-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encodeNpy header', () => {
  // Hand-computed from the format spec: magic, version 1.0, little-endian uint16 header length,
  // the dict, 21 - len(str(shape[0])) spaces of growth room (numpy >= 1.24), spaces up to a
  // 64-byte boundary, and a newline as the last header byte.
  it.each([
    [[3, 3, 1, 32], '(3, 3, 1, 32)', 20],
    [[32], '(32,)', 19],
    [[], '()', 0],
    [[1, 28, 28, 32], '(1, 28, 28, 32)', 20],
  ])('shape %j is written as numpy writes it', (shape, tuple, growth) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy(ramp(count), shape);
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }` + ' '.repeat(growth);
    const headerLength = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
    expect(headerLength).toBe(118);
    expect([...bytes.subarray(0, 10)]).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
    expect(ascii(bytes.subarray(10, 128))).toBe(dict.padEnd(headerLength - 1, ' ') + '\n');
    expect(bytes.length).toBe(128 + count * 4);
    // The data starts on the 64-byte boundary, little-endian float32.
    expect(new DataView(bytes.buffer).getFloat32(128, true)).toBe(ramp(count)[0]);
  });

  it('grows the header past one 64-byte block for a long shape', () => {
    const shape = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2];
    const bytes = encodeNpy(new Float32Array([1, 2]), shape);
    const headerLength = new DataView(bytes.buffer).getUint16(8, true);
    expect((10 + headerLength) % 64).toBe(0);
    expect(headerLength).toBeGreaterThan(118);
    expect(bytes[10 + headerLength - 1]).toBe(0x0a);
    expect(parseNpy(bytes, 'long.npy').shape).toEqual(shape);
  });
});

describe('against numpy', () => {
  it('numpy.save writes the same bytes', async () => {
    // Shapes at and past a 64-byte boundary, where the growth room and the padding show: with
    // 13 ones before the 200, the growth room alone decides between a 118- and a 182-byte header.
    const long = [...Array<number>(13).fill(1), 200];
    for (const shape of [[3, 3, 1, 32], [32], [], [2, 3], [0], long, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3], [123456789, 0, 1, 1, 1, 1, 1]]) {
      const count = shape.reduce((a, b) => a * b, 1);
      const path = join(dir, `numpy-${shape.join('x') || 'scalar'}.npy`);
      python(
        'import sys, json, numpy as np\n' +
          'shape = tuple(json.loads(sys.argv[2]))\n' +
          'n = int(np.prod(shape))\n' +
          'a = ((np.arange(n, dtype=np.float64) - n / 2) / 7).astype("<f4").reshape(shape)\n' +
          'np.save(sys.argv[1], a)',
        [path, JSON.stringify(shape)],
      );
      const theirs = new Uint8Array(await readFile(path));
      expect(Buffer.from(encodeNpy(ramp(count), shape)).equals(Buffer.from(theirs))).toBe(true);
    }
  });

  it('numpy.load reads what writeNpy wrote', async () => {
    const path = join(dir, 'ours.npy');
    const data = Float32Array.from([0.1, -2.5, 3e-8, 1e30, -0, 7, 8, 9, 10, 11, 12, 13]);
    await writeNpy(path, data, [2, 3, 2]);
    const out = JSON.parse(
      python(
        'import sys, json, numpy as np\n' +
          'a = np.load(sys.argv[1])\n' +
          'print(json.dumps({"dtype": a.dtype.str, "shape": a.shape, "c": a.flags.c_contiguous, "values": [float(x) for x in a.ravel()]}))',
        [path],
      ),
    ) as { dtype: string; shape: number[]; c: boolean; values: number[] };
    expect(out.dtype).toBe('<f4');
    expect(out.shape).toEqual([2, 3, 2]);
    expect(out.c).toBe(true);
    expect(out.values).toEqual([...data]);
  });
});

describe('round trip', () => {
  it.each([[[]], [[5]], [[2, 3]], [[3, 3, 1, 32]], [[1, 14, 14, 64]]])('shape %j', async (shape) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: count }, (_, i) => Math.fround(Math.sin(i) * 1e3));
    const path = join(dir, `rt-${shape.join('x') || 'scalar'}.npy`);
    await writeNpy(path, data, shape);
    const back = await readNpy(path);
    expect(back.shape).toEqual(shape);
    expect(back.data).toEqual(data);
  });

  it('parses from a Buffer view at an odd byte offset', () => {
    const data = Float32Array.from([1.5, -2.25, 3]);
    const bytes = encodeNpy(data, [3]);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 3);
    expect(parseNpy(padded.subarray(3), 'odd.npy')).toEqual({ data, shape: [3] });
  });
});

describe('writeNpy refuses arrays numpy would not read back as written', () => {
  it.each([
    [[2, 2], 3, /shape \[2,2\] holds 4 values but the data has 3/],
    [[2.5], 2, /non-negative integers/],
    [[-1], 1, /non-negative integers/],
  ])('shape %j with %i values', async (shape, n, message) => {
    const path = join(dir, 'refused.npy');
    await expect(writeNpy(path, new Float32Array(n), shape)).rejects.toThrow(message);
    expect((await readdir(dir)).filter((f) => f.startsWith('refused'))).toEqual([]);
  });
});

describe('parseNpy rejects malformed files naming the file', () => {
  const good = () => new Uint8Array(encodeNpy(Float32Array.from([1, 2, 3, 4]), [2, 2]));
  const withHeader = (dict: string) => {
    const bytes = good();
    const text = ascii(bytes.subarray(10, 128));
    const replaced = text.replace(/^\{.*\}/, dict).padEnd(118, ' ');
    bytes.set(Buffer.from(replaced.slice(0, 117) + '\n', 'latin1'), 10);
    return bytes;
  };
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['bad magic', () => Object.assign(good(), { 0: 0x94 }), /magic/],
    ['unknown version', () => Object.assign(good(), { 6: 4 }), /version 4\.0/],
    ['float64', () => withHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }"), /dtype <f8 is not float32/],
    ['big-endian', () => withHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }"), /dtype >f4/],
    ['fortran order', () => withHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), /Fortran order/],
    ['no shape', () => withHeader("{'descr': '<f4', 'fortran_order': False, }"), /lacks descr, fortran_order or shape/],
    ['bad shape', () => withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"), /not a tuple of non-negative integers/],
    ['truncated data', () => good().subarray(0, 128 + 12), /needs 16 data bytes but the file has 12/],
    ['trailing data', () => Uint8Array.from([...good(), 0, 0, 0, 0]), /needs 16 data bytes but the file has 20/],
    ['truncated header', () => good().subarray(0, 60), /header claims 118 bytes but the file has 60/],
    ['empty file', () => new Uint8Array(0), /magic/],
  ];
  it.each(cases)('%s', (_, make, message) => {
    let err: unknown;
    try {
      parseNpy(make(), '/some/where/bad.npy');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('/some/where/bad.npy');
  });

  it('readNpy names a missing file', async () => {
    await expect(readNpy(join(dir, 'nope.npy'))).rejects.toThrow(/missing .*nope\.npy/);
  });

  it('readNpy names a corrupt file on disk', async () => {
    const path = join(dir, 'corrupt.npy');
    await writeFile(path, 'not numpy');
    await expect(readNpy(path)).rejects.toThrow(new RegExp(`${path.replace(/[.]/g, '\\.')} is not a usable \\.npy file`));
  });
});
