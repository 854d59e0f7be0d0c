import { ModelConfigError } from './model-errors.js';
import { WASM_BASE64 } from './wasm/mlp-kernels.wasm.js';

/**
 * The dense layer kernels of the MLP (Wide&Deep's deep part), in WebAssembly SIMD: the source is
 * `wasm/mlp-kernels.wat`. Plain JavaScript does about one multiply-add per cycle here; the f64x2
 * kernels, with two examples or two inputs sharing every load, do several, which is what a
 * 256-128 MLP needs to learn 20,000 samples/s on one core.
 *
 * The kernels work on arrays in one WebAssembly memory, so a model allocates every array they
 * touch (weights, biases, their gradients, activations) from its own {@link MlpArena}. Sums are
 * taken in the same order as plain loops (see the .wat), so results are deterministic.
 */

interface KernelExports {
  forward(a: number, n: number, ins: number, w: number, bias: number, outs: number, p: number, relu: number): void;
  weightGradient(a: number, n: number, ins: number, dp: number, outs: number, gw: number, gb: number): void;
  inputGradient(w: number, ins: number, limit: number, dp: number, outs: number, n: number, da: number, mask: number, dpT: number): void;
}

/** The part of the WebAssembly JS API used here (the project compiles without the DOM typings, which carry it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | undefined;
function kernelModule(): object {
  compiled ??= new wasm.Module(Buffer.from(WASM_BASE64, 'base64'));
  return compiled;
}

const PAGE = 65536;
/** Byte offsets are 32-bit in the kernels: arenas stay below 2 GiB. */
const MAX_BYTES = 2 ** 31 - PAGE;

/**
 * A fixed-size memory for one model's MLP: `alloc` hands out Float64Array views (16-byte aligned)
 * until the size given at construction is used up. The memory never grows, so views stay valid.
 */
export class MlpArena {
  private readonly memory: WasmMemory;
  private readonly k: KernelExports;
  private next = 16; // offset 0 stays unused: 0 is the kernels' "no mask"
  private readonly bytes: number;

  /** An arena for `doubles` numbers in at most `arrays` arrays (each may take 8 bytes of alignment). */
  constructor(doubles: number, what: string, arrays = 64) {
    const bytes = 16 + doubles * 8 + arrays * 8;
    if (!(bytes <= MAX_BYTES)) throw new ModelConfigError(`${what}: the MLP needs ${Math.ceil(bytes / 2 ** 20)} MiB of working memory, more than the 2 GiB the kernels address; use smaller layers or batches`);
    const pages = Math.ceil(bytes / PAGE);
    this.bytes = pages * PAGE;
    this.memory = new wasm.Memory({ initial: pages, maximum: pages });
    this.k = new wasm.Instance(kernelModule(), { env: { memory: this.memory } }).exports as unknown as KernelExports;
  }

  /** A zeroed array of `length` numbers in this arena. */
  alloc(length: number): Float64Array {
    const at = this.next;
    const end = at + length * 8;
    if (end > this.bytes) throw new Error(`MlpArena: out of space (${end} > ${this.bytes} bytes); the arena was sized too small`);
    this.next = (end + 15) & ~15;
    return new Float64Array(this.memory.buffer, at, length);
  }

  private at(view: Float64Array): number {
    if (view.buffer !== this.memory.buffer) throw new Error('MlpArena: an array from another memory was passed to a kernel');
    return view.byteOffset;
  }

  /** p[k][o] = bias[o] + sum_i a[k][i] w[i][o] for k < n (row-major, w input-major), then ReLU when `relu`. */
  forward(a: Float64Array, n: number, ins: number, w: Float64Array, bias: Float64Array, outs: number, p: Float64Array, relu: boolean): void {
    this.k.forward(this.at(a), n, ins, this.at(w), this.at(bias), outs, this.at(p), relu ? 1 : 0);
  }

  /** gw[i][o] += sum_k a[k][i] dp[k][o]; gb[o] += sum_k dp[k][o]. */
  weightGradient(a: Float64Array, n: number, ins: number, dp: Float64Array, outs: number, gw: Float64Array, gb: Float64Array): void {
    this.k.weightGradient(this.at(a), n, ins, this.at(dp), outs, this.at(gw), this.at(gb));
  }

  /**
   * da[k][i] = sum_o w[i][o] dp[k][o] for i < limit; with `mask` (the layer's input activations,
   * after a ReLU) 0 where the input was off. `scratch` holds at least outs x (n rounded up to 4).
   */
  inputGradient(w: Float64Array, ins: number, limit: number, dp: Float64Array, outs: number, n: number, da: Float64Array, mask: Float64Array | null, scratch: Float64Array): void {
    if (scratch.length < outs * ((n + 3) & ~3)) throw new Error('MlpArena.inputGradient: scratch too small');
    this.k.inputGradient(this.at(w), ins, limit, this.at(dp), outs, n, this.at(da), mask === null ? 0 : this.at(mask), this.at(scratch));
  }
}
