import { ModelConfigError } from './model-errors.js';

/**
 * Per-coordinate optimisers over typed arrays. A parameter's optimiser state lives next to it in
 * its table (`slots` numbers per parameter), so sparse rows carry their own statistics and a
 * checkpoint is just the arrays. Every optimiser takes an L2 coefficient; FTRL also L1.
 *
 * Why these: FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches",
 * KDD 2013) for sparse linear weights (per-coordinate rates, exact zeros from L1); AdaGrad for
 * sparse factors and embeddings (per-coordinate rates without Adam's bias-correction bookkeeping);
 * Adam for dense layers; plain SGD as the baseline of every gradient check.
 */
export type OptimizerSpec =
  | { readonly kind: 'ftrl'; readonly alpha: number; readonly beta: number; readonly l1: number; readonly l2: number }
  | { readonly kind: 'adagrad'; readonly lr: number; readonly eps: number; readonly l2: number; readonly initialAccumulator: number }
  | { readonly kind: 'adam'; readonly lr: number; readonly beta1: number; readonly beta2: number; readonly eps: number; readonly l2: number }
  | { readonly kind: 'sgd'; readonly lr: number; readonly l2: number };

/** FTRL-Proximal with defaults close to the paper's (alpha 0.05, beta 1) and light regularisation. */
export function ftrl(options: Partial<Omit<Extract<OptimizerSpec, { kind: 'ftrl' }>, 'kind'>> = {}): OptimizerSpec {
  return { kind: 'ftrl', alpha: 0.05, beta: 1, l1: 0, l2: 0, ...options };
}
/** AdaGrad (Duchi et al. 2011). */
export function adagrad(options: Partial<Omit<Extract<OptimizerSpec, { kind: 'adagrad' }>, 'kind'>> = {}): OptimizerSpec {
  return { kind: 'adagrad', lr: 0.05, eps: 1e-8, l2: 0, initialAccumulator: 0, ...options };
}
/** Adam (Kingma and Ba 2015) with per-parameter bias correction (correct for sparse rows too). */
export function adam(options: Partial<Omit<Extract<OptimizerSpec, { kind: 'adam' }>, 'kind'>> = {}): OptimizerSpec {
  return { kind: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-8, l2: 0, ...options };
}
/** Plain stochastic gradient descent. */
export function sgd(options: Partial<Omit<Extract<OptimizerSpec, { kind: 'sgd' }>, 'kind'>> = {}): OptimizerSpec {
  return { kind: 'sgd', lr: 0.01, l2: 0, ...options };
}

/**
 * One optimiser instance: `step` takes the current weight, its gradient and its state (at
 * `s[si .. si + slots - 1]`), updates the state in place and returns the new weight. Non-finite
 * results are the caller's to refuse (see the models' guards).
 */
export interface Optimizer {
  readonly spec: OptimizerSpec;
  /** State numbers per parameter. */
  readonly slots: number;
  /** Initialises the state of a parameter whose initial value is w (FTRL must reproduce w). */
  initState(w: number, s: Float64Array, si: number): void;
  step(w: number, g: number, s: Float64Array, si: number): number;
}

function positive(x: number, name: string, spec: OptimizerSpec): void {
  if (!(x > 0 && Number.isFinite(x))) throw new ModelConfigError(`optimiser ${spec.kind}: ${name} must be a finite number > 0, got ${x}`);
}
function nonNegative(x: number, name: string, spec: OptimizerSpec): void {
  if (!(x >= 0 && Number.isFinite(x))) throw new ModelConfigError(`optimiser ${spec.kind}: ${name} must be a finite number >= 0, got ${x}`);
}

class Ftrl implements Optimizer {
  readonly slots = 2;
  private readonly alpha: number;
  private readonly beta: number;
  private readonly l1: number;
  private readonly l2: number;
  constructor(readonly spec: Extract<OptimizerSpec, { kind: 'ftrl' }>) {
    positive(spec.alpha, 'alpha', spec);
    nonNegative(spec.beta, 'beta', spec);
    nonNegative(spec.l1, 'l1', spec);
    nonNegative(spec.l2, 'l2', spec);
    this.alpha = spec.alpha;
    this.beta = spec.beta;
    this.l1 = spec.l1;
    this.l2 = spec.l2;
  }
  initState(w: number, s: Float64Array, si: number): void {
    // z such that the closed form gives back w with n = 0: w = -(z - sgn(z) l1) / (beta / alpha + l2)
    const d = this.beta / this.alpha + this.l2;
    s[si] = w === 0 ? 0 : -w * d - Math.sign(w) * this.l1;
    s[si + 1] = 0;
  }
  step(w: number, g: number, s: Float64Array, si: number): number {
    const n = s[si + 1] as number;
    const n2 = n + g * g;
    const sqrtN2 = Math.sqrt(n2);
    const sigma = (sqrtN2 - Math.sqrt(n)) / this.alpha;
    const z = (s[si] as number) + g - sigma * w;
    s[si] = z;
    s[si + 1] = n2;
    const az = z < 0 ? -z : z;
    if (az <= this.l1) return 0;
    return -(z - (z < 0 ? -this.l1 : this.l1)) / ((this.beta + sqrtN2) / this.alpha + this.l2);
  }
}

class AdaGrad implements Optimizer {
  readonly slots = 1;
  private readonly lr: number;
  private readonly eps: number;
  private readonly l2: number;
  private readonly g0: number;
  constructor(readonly spec: Extract<OptimizerSpec, { kind: 'adagrad' }>) {
    positive(spec.lr, 'lr', spec);
    nonNegative(spec.eps, 'eps', spec);
    nonNegative(spec.l2, 'l2', spec);
    nonNegative(spec.initialAccumulator, 'initialAccumulator', spec);
    this.lr = spec.lr;
    this.eps = spec.eps;
    this.l2 = spec.l2;
    this.g0 = spec.initialAccumulator;
  }
  initState(_w: number, s: Float64Array, si: number): void {
    s[si] = this.g0;
  }
  step(w: number, g: number, s: Float64Array, si: number): number {
    const gr = g + this.l2 * w;
    const acc = (s[si] as number) + gr * gr;
    s[si] = acc;
    return w - (this.lr * gr) / (Math.sqrt(acc) + this.eps);
  }
}

class Adam implements Optimizer {
  // m, v, beta1^t, beta2^t: the powers are kept instead of t, so a step needs no Math.pow
  readonly slots = 4;
  private readonly lr: number;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly l2: number;
  constructor(readonly spec: Extract<OptimizerSpec, { kind: 'adam' }>) {
    positive(spec.lr, 'lr', spec);
    if (!(spec.beta1 >= 0 && spec.beta1 < 1)) throw new ModelConfigError(`optimiser adam: beta1 must be in [0, 1), got ${spec.beta1}`);
    if (!(spec.beta2 >= 0 && spec.beta2 < 1)) throw new ModelConfigError(`optimiser adam: beta2 must be in [0, 1), got ${spec.beta2}`);
    nonNegative(spec.eps, 'eps', spec);
    nonNegative(spec.l2, 'l2', spec);
    this.lr = spec.lr;
    this.b1 = spec.beta1;
    this.b2 = spec.beta2;
    this.eps = spec.eps;
    this.l2 = spec.l2;
  }
  initState(_w: number, s: Float64Array, si: number): void {
    s[si] = 0;
    s[si + 1] = 0;
    s[si + 2] = 1;
    s[si + 3] = 1;
  }
  step(w: number, g: number, s: Float64Array, si: number): number {
    const gr = g + this.l2 * w;
    const m = this.b1 * (s[si] as number) + (1 - this.b1) * gr;
    const v = this.b2 * (s[si + 1] as number) + (1 - this.b2) * gr * gr;
    const p1 = (s[si + 2] as number) * this.b1;
    const p2 = (s[si + 3] as number) * this.b2;
    s[si] = m;
    s[si + 1] = v;
    s[si + 2] = p1;
    s[si + 3] = p2;
    return w - (this.lr * (m / (1 - p1))) / (Math.sqrt(v / (1 - p2)) + this.eps);
  }
}

class Sgd implements Optimizer {
  readonly slots = 0;
  private readonly lr: number;
  private readonly l2: number;
  constructor(readonly spec: Extract<OptimizerSpec, { kind: 'sgd' }>) {
    positive(spec.lr, 'lr', spec);
    nonNegative(spec.l2, 'l2', spec);
    this.lr = spec.lr;
    this.l2 = spec.l2;
  }
  initState(): void {}
  step(w: number, g: number): number {
    return w - this.lr * (g + this.l2 * w);
  }
}

/**
 * An optimiser from its spec (checked: the message says which value is out of range).
 *
 * @example createOptimizer(ftrl({ alpha: 0.1, l1: 1 }))
 */
export function createOptimizer(spec: OptimizerSpec): Optimizer {
  if (typeof spec !== 'object' || spec === null) throw new ModelConfigError(`an optimiser must be an object such as {"kind": "adagrad", "lr": 0.05}, got ${JSON.stringify(spec)}`);
  // values a spec leaves out (e.g. one given as JSON on the command line) take the builders' defaults
  switch (spec.kind) {
    case 'ftrl':
      return new Ftrl({ ...ftrl(), ...spec });
    case 'adagrad':
      return new AdaGrad({ ...adagrad(), ...spec });
    case 'adam':
      return new Adam({ ...adam(), ...spec });
    case 'sgd':
      return new Sgd({ ...sgd(), ...spec });
    default:
      throw new ModelConfigError(`unknown optimiser ${JSON.stringify(spec)}; use ftrl, adagrad, adam or sgd`);
  }
}
