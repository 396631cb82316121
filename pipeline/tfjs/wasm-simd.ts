/**
 * The project's WebAssembly SIMD kernels, run over the wasm backend's own memory: Adam's update of
 * one variable, and the max-pool gradient of 2x2 windows. In plain JavaScript these loops are
 * slower than the backend's chains of kernels they replace (float64 division, square root and
 * comparisons, one element at a time): Adam's fused loop took about 7 ms a step against tfjs's 5.5.
 *
 * The module is a few dozen instructions, written out here as bytes rather than compiled from a
 * toolchain the project does not have. It imports the backend's memory, so it reads and writes
 * tensors in place, with the same float32 SIMD operations as the backend's kernels (f32x4 mul, add,
 * div, sqrt, gt: IEEE, round to nearest), in the order tfjs computes them, so the bits are those
 * of tfjs's (test/adam.test.ts, test/wasm-kernels.test.ts).
 */

/** The memory of the wasm backend's module (the emscripten Module the backend holds). */
export interface WasmModuleHolder {
  wasm: { asm: { memory: WebAssembly.Memory } };
}

/**
 * adam(m, v, w, g, m2, v2, w2, count, beta1, rest1, beta2, rest2, bias1, bias2, epsilon, step):
 * pointers are byte offsets of float32 arrays, count a multiple of 4.
 *   m2 = m*beta1 + g*rest1;  v2 = v*beta2 + (g*g)*rest2;
 *   w2 = ((m2/bias1) / (sqrt(v2/bias2) + epsilon)) * step + w
 */
export type AdamKernel = (m: number, v: number, w: number, g: number, m2: number, v2: number, w2: number, count: number, ...scalars: number[]) => void;

/**
 * maxPoolGrad2x2(x, g, dx, outWidth, channelBytes, rowBytes): one output row of a 2x2, stride-2
 * max pool's gradient, channels a multiple of 4. x and dx point at the first of the two input rows
 * under the output row, g at the output row's gradient; rowBytes is one input row. Each window's
 * gradient goes to its first strict maximum in the order (0,0), (0,1), (1,0), (1,1), from
 * -Infinity (a window of only NaN or -Infinity gets none), and every other element gets +0.
 */
export type MaxPoolGrad2x2Kernel = (x: number, g: number, dx: number, outWidth: number, channelBytes: number, rowBytes: number) => void;

export interface SimdKernels {
  adam: AdamKernel;
  maxPoolGrad2x2: MaxPoolGrad2x2Kernel;
}

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
// instructions
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const F32_CONST = 0x43;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_SHL = 0x74;
const I32_GE_U = 0x4f;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const SIMD = 0xfd;
const simd = (op: number): number[] => [SIMD, ...uleb(op)];
const V128_LOAD = [...simd(0x00), 0, 0]; // align 1, offset 0
const V128_STORE = [...simd(0x0b), 0, 0];
const F32X4_SPLAT = simd(0x13);
const F32X4_GT = simd(0x44);
const V128_AND = simd(0x4e);
const V128_ANDNOT = simd(0x4f); // a & ~b
const V128_BITSELECT = simd(0x52); // (a & mask) | (b & ~mask)
const F32X4_SQRT = simd(0xe3);
const F32X4_ADD = simd(0xe4);
const F32X4_MUL = simd(0xe6);
const F32X4_DIV = simd(0xe7);

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

const vec = (bytes: number[]): number[] => [...uleb(bytes.length), ...bytes];
const section = (id: number, bytes: number[]): number[] => [id, ...vec(bytes)];
const name = (s: string): number[] => vec([...new TextEncoder().encode(s)]);
const get = (l: number) => [LOCAL_GET, l];
const set = (l: number) => [LOCAL_SET, l];
/** locals: [count, type] groups */
const locals = (...groups: [number, number][]) => [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t])];

function adamBody(): number[] {
  // parameters: 0-6 pointers, 7 count, 8-15 scalars; locals: 16 offset, 17 end, 18-25 splatted
  // scalars, 26 g, 27 m2, 28 v2
  const [M, V, W, G, M2, V2, W2, COUNT] = [0, 1, 2, 3, 4, 5, 6, 7];
  const SCALAR = 8;
  const [OFFSET, LIMIT, SPLAT, GV, MV, VV] = [16, 17, 18, 26, 27, 28];
  const [BETA1, REST1, BETA2, REST2, BIAS1, BIAS2, EPSILON, STEP] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => SPLAT + i);
  const at = (pointer: number) => [...get(pointer), ...get(OFFSET), I32_ADD];
  const load = (pointer: number) => [...at(pointer), ...V128_LOAD];
  const code: number[] = [];
  // splat the scalars; the end offset in bytes
  for (let i = 0; i < 8; i++) code.push(...get(SCALAR + i), ...F32X4_SPLAT, ...set(SPLAT + i));
  code.push(...get(COUNT), I32_CONST, 2, I32_SHL, ...set(LIMIT));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(OFFSET), ...get(LIMIT), I32_GE_U, BR_IF, 1);
  // m2 = m*beta1 + g*rest1
  code.push(...at(M2));
  code.push(...load(M), ...get(BETA1), ...F32X4_MUL);
  code.push(...load(G), LOCAL_TEE, GV, ...get(REST1), ...F32X4_MUL);
  code.push(...F32X4_ADD, LOCAL_TEE, MV, ...V128_STORE);
  // v2 = v*beta2 + (g*g)*rest2
  code.push(...at(V2));
  code.push(...load(V), ...get(BETA2), ...F32X4_MUL);
  code.push(...get(GV), ...get(GV), ...F32X4_MUL, ...get(REST2), ...F32X4_MUL);
  code.push(...F32X4_ADD, LOCAL_TEE, VV, ...V128_STORE);
  // w2 = ((m2/bias1) / (sqrt(v2/bias2) + epsilon)) * step + w
  code.push(...at(W2));
  code.push(...get(MV), ...get(BIAS1), ...F32X4_DIV);
  code.push(...get(VV), ...get(BIAS2), ...F32X4_DIV, ...F32X4_SQRT, ...get(EPSILON), ...F32X4_ADD);
  code.push(...F32X4_DIV, ...get(STEP), ...F32X4_MUL);
  code.push(...load(W), ...F32X4_ADD, ...V128_STORE);
  code.push(...get(OFFSET), I32_CONST, 16, I32_ADD, ...set(OFFSET));
  code.push(BR, 0, END, END, END);
  return vec([...locals([2, I32], [11, V128]), ...code]);
}

function maxPoolGrad2x2Body(): number[] {
  // parameters: 0 x, 1 g, 2 dx, 3 output width, 4 channel bytes, 5 row bytes; locals: 6 column,
  // 7 byte in the channels, 8 window's offset from x (and dx), 9 g's address; 10-13 the window,
  // 14 best, 15-18 "greater than the best so far", 19 g, 20 -Infinity
  const [X, G, DX, OUT_W, CH, ROW] = [0, 1, 2, 3, 4, 5];
  const [COL, BYTE, WIN, GP] = [6, 7, 8, 9];
  const [V0, V1, V2, V3, BEST, C0, C1, C2, C3, GV, NEG_INF] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  // address of base + window offset (+ channel bytes) (+ row bytes)
  const addr = (base: number, right: boolean, down: boolean) => [
    ...get(base), ...get(WIN), I32_ADD,
    ...(right ? [...get(CH), I32_ADD] : []),
    ...(down ? [...get(ROW), I32_ADD] : []),
  ]; // prettier-ignore
  const code: number[] = [];
  code.push(F32_CONST, 0x00, 0x00, 0x80, 0xff, ...F32X4_SPLAT, ...set(NEG_INF));
  code.push(...get(G), ...set(GP));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(COL), ...get(OUT_W), I32_GE_U, BR_IF, 1);
  code.push(I32_CONST, 0, ...set(BYTE));
  code.push(BLOCK, VOID, LOOP, VOID);
  code.push(...get(BYTE), ...get(CH), I32_GE_U, BR_IF, 1);
  // the window's offset: column * 2 * channel bytes + byte
  code.push(...get(COL), I32_CONST, 1, I32_SHL, ...get(CH), I32_MUL, ...get(BYTE), I32_ADD, ...set(WIN));
  code.push(...addr(X, false, false), ...V128_LOAD, ...set(V0));
  code.push(...addr(X, true, false), ...V128_LOAD, ...set(V1));
  code.push(...addr(X, false, true), ...V128_LOAD, ...set(V2));
  code.push(...addr(X, true, true), ...V128_LOAD, ...set(V3));
  code.push(...get(GP), ...V128_LOAD, ...set(GV));
  // the first strict maximum from -Infinity
  code.push(...get(V0), ...get(NEG_INF), ...F32X4_GT, LOCAL_TEE, C0);
  code.push(...get(V0), ...get(NEG_INF), ...get(C0), ...V128_BITSELECT, ...set(BEST));
  code.push(...get(V1), ...get(BEST), ...F32X4_GT, ...set(C1));
  code.push(...get(V1), ...get(BEST), ...get(C1), ...V128_BITSELECT, ...set(BEST));
  code.push(...get(V2), ...get(BEST), ...F32X4_GT, ...set(C2));
  code.push(...get(V2), ...get(BEST), ...get(C2), ...V128_BITSELECT, ...set(BEST));
  code.push(...get(V3), ...get(BEST), ...F32X4_GT, ...set(C3));
  // dy to the winner, +0 elsewhere
  code.push(...addr(DX, true, true), ...get(GV), ...get(C3), ...V128_AND, ...V128_STORE);
  code.push(...addr(DX, false, true), ...get(GV), ...get(C2), ...get(C3), ...V128_ANDNOT, ...V128_AND, ...V128_STORE);
  code.push(...addr(DX, true, false), ...get(GV), ...get(C1), ...get(C2), ...V128_ANDNOT, ...get(C3), ...V128_ANDNOT, ...V128_AND, ...V128_STORE);
  code.push(...addr(DX, false, false), ...get(GV), ...get(C0), ...get(C1), ...V128_ANDNOT, ...get(C2), ...V128_ANDNOT, ...get(C3), ...V128_ANDNOT, ...V128_AND, ...V128_STORE);
  code.push(...get(BYTE), I32_CONST, 16, I32_ADD, ...set(BYTE));
  code.push(...get(GP), I32_CONST, 16, I32_ADD, ...set(GP));
  code.push(BR, 0, END, END);
  code.push(...get(COL), I32_CONST, 1, I32_ADD, ...set(COL));
  code.push(BR, 0, END, END, END);
  return vec([...locals([4, I32], [11, V128]), ...code]);
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const adamType = [0x60, ...vec([...Array(8).fill(I32), ...Array(8).fill(F32)]), ...vec([])];
  const poolType = [0x60, ...vec(Array(6).fill(I32)), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(2), ...adamType, ...poolType]),
    ...section(2, [...uleb(1), ...name('env'), ...name('memory'), 0x02, 0x00, 0x00]),
    ...section(3, [...uleb(2), 0, 1]),
    ...section(7, [...uleb(2), ...name('adam'), 0x00, 0, ...name('maxPoolGrad2x2'), 0x00, 1]),
    ...section(10, [...uleb(2), ...adamBody(), ...maxPoolGrad2x2Body()]),
  ]); // prettier-ignore
}

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();

/** The kernels over the backend's memory (one instance per backend, so per thread). */
export function simdKernels(backend: WasmModuleHolder): SimdKernels {
  const memory = backend.wasm.asm.memory;
  let kernels = instances.get(memory);
  if (!kernels) {
    compiled ??= new WebAssembly.Module(moduleBytes());
    const exports = new WebAssembly.Instance(compiled, { env: { memory } }).exports;
    kernels = { adam: exports.adam as AdamKernel, maxPoolGrad2x2: exports.maxPoolGrad2x2 as MaxPoolGrad2x2Kernel };
    instances.set(memory, kernels);
  }
  return kernels;
}
