/**
 * Evaluation of click models: AUC, logloss, calibration, and progressive validation (score each
 * sample before learning it, as the trainer does). Pure functions over arrays; NaN predictions
 * (examples a model refused) are left out.
 */

/**
 * Area under the ROC curve: the probability that a random positive scores above a random
 * negative, ties counting one half (rank-sum form, average ranks for ties). NaN when there are
 * no positives or no negatives.
 */
export function auc(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  // Two typed arrays sorted natively (no comparator: 5-10x faster than sorting indices), walked
  // side by side: each tie group of all scores takes its positives from the sorted positives.
  let n = 0;
  let pos = 0;
  for (let i = 0; i < predictions.length; i++) {
    if (Number.isNaN(predictions[i] as number)) continue;
    n++;
    if ((labels[i] as number) > 0.5) pos++;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  const all = new Float64Array(n);
  const positives = new Float64Array(pos);
  for (let i = 0, a = 0, p = 0; i < predictions.length; i++) {
    const v = predictions[i] as number;
    if (Number.isNaN(v)) continue;
    all[a++] = v;
    if ((labels[i] as number) > 0.5) positives[p++] = v;
  }
  all.sort();
  positives.sort();
  let rankSum = 0;
  let p = 0;
  for (let i = 0; i < n; ) {
    const v = all[i] as number;
    let j = i + 1;
    while (j < n && all[j] === v) j++;
    let inGroup = 0;
    while (p < pos && positives[p] === v) {
      p++;
      inGroup++;
    }
    rankSum += (inGroup * (i + 1 + j)) / 2; // ranks i+1 .. j, averaged
    i = j;
  }
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Mean logloss of probabilities against 0/1 labels, probabilities clipped to [1e-15, 1 - 1e-15]. */
export function logloss(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < predictions.length; i++) {
    const p0 = predictions[i] as number;
    if (Number.isNaN(p0)) continue;
    const p = Math.min(1 - 1e-15, Math.max(1e-15, p0));
    const y = labels[i] as number;
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    n++;
  }
  return n === 0 ? NaN : sum / n;
}

/** Calibration: mean prediction, observed rate, and their ratio (1 = calibrated on average). */
export function calibration(predictions: ArrayLike<number>, labels: ArrayLike<number>): { meanPrediction: number; observedRate: number; ratio: number } {
  let sp = 0;
  let sy = 0;
  let n = 0;
  for (let i = 0; i < predictions.length; i++) {
    const p = predictions[i] as number;
    if (Number.isNaN(p)) continue;
    sp += p;
    sy += labels[i] as number;
    n++;
  }
  return { meanPrediction: sp / n, observedRate: sy / n, ratio: sy === 0 ? NaN : sp / sy };
}

/**
 * Reliability table: predictions cut into `bins` equal-count bins, each with its mean prediction
 * and observed rate (a calibrated model has them equal in every bin).
 */
export function reliability(predictions: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): { meanPrediction: number; observedRate: number; count: number }[] {
  const idx: number[] = [];
  for (let i = 0; i < predictions.length; i++) if (!Number.isNaN(predictions[i] as number)) idx.push(i);
  idx.sort((a, b) => (predictions[a] as number) - (predictions[b] as number));
  const out: { meanPrediction: number; observedRate: number; count: number }[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * idx.length) / bins);
    const hi = Math.floor(((b + 1) * idx.length) / bins);
    if (hi <= lo) continue;
    let sp = 0;
    let sy = 0;
    for (let k = lo; k < hi; k++) {
      sp += predictions[idx[k] as number] as number;
      sy += labels[idx[k] as number] as number;
    }
    out.push({ meanPrediction: sp / (hi - lo), observedRate: sy / (hi - lo), count: hi - lo });
  }
  return out;
}

/** The metrics of a progressive validator. */
export interface ProgressiveMetrics {
  /** Examples scored in total. */
  readonly count: number;
  /** Over the rolling window (the last `window` examples). */
  readonly windowCount: number;
  readonly auc: number;
  readonly logloss: number;
  /** Mean prediction / observed rate over the window. */
  readonly calibration: number;
  /** Over every example since the start. */
  readonly totalLogloss: number;
  readonly totalCalibration: number;
}

/**
 * Progressive validation (Blum, Kalai and Langford 1999; the metric of "a View from the
 * Trenches"): each prediction is made before the model learns its example, so every example is
 * a test example. Keeps a rolling window (a ring buffer) for AUC, logloss and calibration, and
 * running totals.
 *
 * @example
 * const pv = new ProgressiveValidator(100_000);
 * const preds = new Float64Array(batch.size);
 * model.learn(batch, preds);
 * pv.addAll(preds, batch.labels);
 * pv.metrics().auc;
 */
export class ProgressiveValidator {
  private readonly p: Float64Array;
  private readonly y: Float64Array;
  private next = 0;
  private filled = 0;
  private total = 0;
  private totalLoss = 0;
  private totalP = 0;
  private totalY = 0;

  constructor(readonly window = 100_000) {
    if (!(Number.isInteger(window) && window >= 1)) throw new RangeError(`progressive validation window must be a whole number >= 1, got ${window}`);
    this.p = new Float64Array(window);
    this.y = new Float64Array(window);
  }

  /** Adds one prediction (made before learning) and its label; NaN predictions are ignored. */
  add(prediction: number, label: number): void {
    if (Number.isNaN(prediction)) return;
    this.p[this.next] = prediction;
    this.y[this.next] = label;
    this.next = (this.next + 1) % this.window;
    if (this.filled < this.window) this.filled++;
    this.total++;
    const q = Math.min(1 - 1e-15, Math.max(1e-15, prediction));
    this.totalLoss -= label * Math.log(q) + (1 - label) * Math.log(1 - q);
    this.totalP += prediction;
    this.totalY += label;
  }

  addAll(predictions: ArrayLike<number>, labels: ArrayLike<number>): void {
    for (let i = 0; i < predictions.length; i++) this.add(predictions[i] as number, labels[i] as number);
  }

  metrics(): ProgressiveMetrics {
    const p = this.p.subarray(0, this.filled);
    const y = this.y.subarray(0, this.filled);
    return {
      count: this.total,
      windowCount: this.filled,
      auc: auc(p, y),
      logloss: logloss(p, y),
      calibration: calibration(p, y).ratio,
      totalLogloss: this.total === 0 ? NaN : this.totalLoss / this.total,
      totalCalibration: this.totalY === 0 ? NaN : this.totalP / this.totalY,
    };
  }
}
