import { ModelConfigError } from './model-errors.js';

/**
 * The training loss, a model parameter. Every model computes a raw score s; the loss turns it
 * into the prediction (`output`), the loss value, and dL/ds, the one number backpropagated
 * through the model.
 */
export interface Loss {
  readonly kind: LossKind;
  /** The prediction for score s: a probability for logloss, s itself for squared. */
  output(s: number): number;
  /** The loss of score s against label y. */
  value(s: number, y: number): number;
  /** dL/ds at score s and label y. */
  gradient(s: number, y: number): number;
  /** Whether y is a label this loss accepts (logloss: a number in [0, 1]). */
  acceptsLabel(y: number): boolean;
}

/** `logloss` (default, click models; labels in [0, 1]) or `squared` (regression; any finite label). */
export type LossKind = 'logloss' | 'squared';

/** The logistic function, stable for large |s|. */
export function sigmoid(s: number): number {
  if (s >= 0) return 1 / (1 + Math.exp(-s));
  const e = Math.exp(s);
  return e / (1 + e);
}

const LOGLOSS: Loss = {
  kind: 'logloss',
  output: sigmoid,
  // log(1 + e^s) - y s, written to stay finite for any s
  value: (s, y) => Math.max(s, 0) - s * y + Math.log1p(Math.exp(-Math.abs(s))),
  gradient: (s, y) => sigmoid(s) - y,
  acceptsLabel: (y) => y >= 0 && y <= 1,
};

const SQUARED: Loss = {
  kind: 'squared',
  output: (s) => s,
  value: (s, y) => 0.5 * (s - y) * (s - y),
  gradient: (s, y) => s - y,
  acceptsLabel: (y) => Number.isFinite(y),
};

/** The loss of a kind. */
export function lossOf(kind: LossKind): Loss {
  if (kind === 'logloss') return LOGLOSS;
  if (kind === 'squared') return SQUARED;
  throw new ModelConfigError(`unknown loss ${JSON.stringify(kind)}; use logloss or squared`);
}
