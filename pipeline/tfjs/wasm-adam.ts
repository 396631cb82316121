/**
 * Adam's update of one variable as one pass of WebAssembly SIMD over the wasm backend's own memory.
 * tfjs runs Adam as about twelve kernels per variable (mul, add, square, div, sqrt...), each a full
 * pass with the engine's bookkeeping around it: about 5.5 ms per step for the book's 333,526
 * parameters, all of it on the main thread while the shard worker waits. In plain JavaScript the
 * fused loop is slower still (float64 division and square root, then rounding: about 7 ms).
 *
 * The module is a dozen instructions, written out here as bytes rather than compiled from a
 * toolchain the project does not have. It imports the backend's memory, so it reads and writes
 * tensors in place, and computes with the same float32 SIMD operations as the backend's kernels
 * (f32x4 mul, add, div, sqrt: IEEE, round to nearest), in tfjs's order, so the bits are those of
 * tfjs's AdamOptimizer; test/adam.test.ts holds it to that.
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

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
// instructions
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
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

// parameters: 0-6 pointers, 7 count, 8-15 scalars; locals: 16 offset, 17 end, 18-25 splatted
// scalars, 26 g, 27 m2, 28 v2
const [M, V, W, G, M2, V2, W2, COUNT] = [0, 1, 2, 3, 4, 5, 6, 7];
const SCALAR = 8;
const [OFFSET, LIMIT, SPLAT, GV, MV, VV] = [16, 17, 18, 26, 27, 28];
const [BETA1, REST1, BETA2, REST2, BIAS1, BIAS2, EPSILON, STEP] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => SPLAT + i);

const get = (l: number) => [LOCAL_GET, l];
const at = (pointer: number) => [...get(pointer), ...get(OFFSET), I32_ADD];
const load = (pointer: number) => [...at(pointer), ...V128_LOAD];

function body(): number[] {
  const code: number[] = [];
  // splat the scalars; the end offset in bytes
  for (let i = 0; i < 8; i++) code.push(...get(SCALAR + i), ...F32X4_SPLAT, LOCAL_SET, SPLAT + i);
  code.push(...get(COUNT), I32_CONST, 2, I32_SHL, LOCAL_SET, LIMIT);
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
  code.push(...get(OFFSET), I32_CONST, 16, I32_ADD, LOCAL_SET, OFFSET);
  code.push(BR, 0, END, END, END);
  const locals = [...uleb(2), ...uleb(2), I32, ...uleb(11), V128];
  return vec([...locals, ...code]);
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vec([...Array(8).fill(I32), ...Array(8).fill(F32)]), ...vec([])];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...uleb(1), ...type]),
    ...section(2, [...uleb(1), ...name('env'), ...name('memory'), 0x02, 0x00, 0x00]),
    ...section(3, [...uleb(1), 0]),
    ...section(7, [...uleb(1), ...name('adam'), 0x00, 0]),
    ...section(10, [...uleb(1), ...body()]),
  ]); // prettier-ignore
}

let compiled: WebAssembly.Module | undefined;
const kernels = new WeakMap<WebAssembly.Memory, AdamKernel>();

/** The kernel over the backend's memory (one instance per backend, so per thread). */
export function adamKernel(backend: WasmModuleHolder): AdamKernel {
  const memory = backend.wasm.asm.memory;
  let kernel = kernels.get(memory);
  if (!kernel) {
    compiled ??= new WebAssembly.Module(moduleBytes());
    kernel = new WebAssembly.Instance(compiled, { env: { memory } }).exports.adam as AdamKernel;
    kernels.set(memory, kernel);
  }
  return kernel;
}
