"""Reference models for bench/models.ts: the same model family from an established library, on the
same split, with the same features (bench/models.ts writes them as libsvm text: one-hot columns
then dense columns, already transformed exactly as Tessera sees them before normalisation).

  python models_reference.py --family lr|lr-vw|fm|fm-vw|mlp --train F --test F --dense-from N [--epochs E]

Prints one JSON object: library, version, auc, logloss, fit_seconds, train_samples, samples_per_sec.
Dense columns (index >= --dense-from) are standardised with statistics of the training set, as
Tessera's online normaliser converges to. Threads are limited to one (samples/s per core).
"""
import argparse
import json
import os
import sys
import time

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np
from scipy import sparse
from sklearn.datasets import load_svmlight_file
from sklearn.metrics import log_loss, roc_auc_score
from threadpoolctl import threadpool_limits


def load(path, n_features):
    x, y = load_svmlight_file(path, n_features=n_features, zero_based=True)
    return x.tocsr(), (y > 0.5).astype(np.int64)


def standardise(x_train, x_test, dense_from):
    if dense_from >= x_train.shape[1]:
        return x_train, x_test
    d_train = x_train[:, dense_from:].toarray()
    mean = d_train.mean(axis=0)
    sd = d_train.std(axis=0)
    sd[sd < 1e-6] = 1.0

    def apply(x):
        d = np.clip((x[:, dense_from:].toarray() - mean) / sd, -10, 10)
        return sparse.hstack([x[:, :dense_from], sparse.csr_matrix(d)]).tocsr()

    return apply(x_train), apply(x_test)


def int32_indices(x):
    # liblinear accepts only 32-bit sparse indices; hstack may produce 64-bit ones
    x = x.tocsr()
    x.indices = x.indices.astype(np.int32)
    x.indptr = x.indptr.astype(np.int32)
    return x


def run_lr(x_train, y_train, x_test, epochs):
    import sklearn
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000)
    t0 = time.perf_counter()
    model.fit(x_train, y_train)
    secs = time.perf_counter() - t0
    return "scikit-learn LogisticRegression (liblinear, C=1, converged batch fit)", sklearn.__version__, model.predict_proba(x_test)[:, 1], secs, x_train.shape[0]


def run_vw(x_train, y_train, x_test, epochs, options):
    import vowpalwabbit

    def lines(x, y):
        out = []
        for i in range(x.shape[0]):
            row = x.getrow(i)
            feats = " ".join(f"{j}:{v:.9g}" for j, v in zip(row.indices, row.data))
            out.append(f"{1 if y is not None and y[i] else -1} |f {feats}")
        return out

    train = lines(x_train, y_train)
    test = lines(x_test, None)
    vw = vowpalwabbit.Workspace(f"--loss_function logistic --link logistic --quiet -b 24 {options}")
    t0 = time.perf_counter()
    for _ in range(epochs):
        for line in train:
            vw.learn(line)
    secs = time.perf_counter() - t0
    preds = np.array([vw.predict(line) for line in test])
    vw.finish()
    return f"Vowpal Wabbit ({options.strip()}, Python bindings, text examples pre-formatted)", vowpalwabbit.__version__, preds, secs, x_train.shape[0] * epochs


def run_fm(x_train, y_train, x_test, epochs, factors):
    import river
    from river import facto, optim

    def dicts(x):
        return [{str(j): float(v) for j, v in zip(x.indices[x.indptr[i]:x.indptr[i + 1]], x.data[x.indptr[i]:x.indptr[i + 1]])} for i in range(x.shape[0])]

    train = dicts(x_train)
    test = dicts(x_test)
    model = facto.FMClassifier(n_factors=factors, weight_optimizer=optim.SGD(0.05), latent_optimizer=optim.SGD(0.05), weight_initializer=optim.initializers.Zeros(), latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=1), l1_weight=0.0, l2_weight=0.0, l1_latent=0.0, l2_latent=0.0, sample_normalization=False, seed=1)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xi, yi in zip(train, y_train):
            model.learn_one(xi, bool(yi))
    secs = time.perf_counter() - t0
    preds = np.array([model.predict_proba_one(xi).get(True, 0.0) for xi in test])
    return f"River FMClassifier (k={factors}, SGD 0.05)", river.__version__, preds, secs, x_train.shape[0] * epochs


def run_mlp(x_train, y_train, x_test, epochs, hidden):
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="adam", learning_rate_init=0.001, batch_size=64, max_iter=epochs, shuffle=False, random_state=1, alpha=1e-5)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    secs = time.perf_counter() - t0
    return f"scikit-learn MLPClassifier ({'-'.join(map(str, hidden))}, ReLU, Adam 1e-3, batch 64, one-hot input)", sklearn.__version__, model.predict_proba(x_test)[:, 1], secs, x_train.shape[0] * epochs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", required=True, choices=["lr", "lr-vw", "fm", "fm-vw", "mlp"])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--features", type=int, required=True)
    ap.add_argument("--dense-from", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--factors", type=int, default=16)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--vw-options", default="--ftrl --ftrl_alpha 0.05 --ftrl_beta 1 --l1 0 --l2 0")
    # VW's low-rank quadratic mode over the one namespace: an FM of rank k; dropout as its authors advise
    ap.add_argument("--vw-fm-options", default="--lrq ff16 --lrqdropout")
    a = ap.parse_args()
    x_train, y_train = load(a.train, a.features)
    x_test, y_test = load(a.test, a.features)
    x_train, x_test = standardise(x_train, x_test, a.dense_from)
    x_train, x_test = int32_indices(x_train), int32_indices(x_test)
    with threadpool_limits(limits=1):
        if a.family == "lr":
            lib, version, preds, secs, n = run_lr(x_train, y_train, x_test, a.epochs)
        elif a.family == "lr-vw":
            lib, version, preds, secs, n = run_vw(x_train, y_train, x_test, a.epochs, a.vw_options)
        elif a.family == "fm-vw":
            lib, version, preds, secs, n = run_vw(x_train, y_train, x_test, a.epochs, a.vw_fm_options.replace("ff16", f"ff{a.factors}"))
        elif a.family == "fm":
            lib, version, preds, secs, n = run_fm(x_train, y_train, x_test, a.epochs, a.factors)
        else:
            lib, version, preds, secs, n = run_mlp(x_train, y_train, x_test, a.epochs, tuple(int(h) for h in a.hidden.split(",")))
    diverged = not bool(np.all(np.isfinite(preds)))
    # a diverged reference (River's plain SGD can overflow) is scored as predicting 0.5 and flagged
    preds = np.clip(np.nan_to_num(preds, nan=0.5, posinf=1.0, neginf=0.0), 1e-15, 1 - 1e-15)
    json.dump({"library": lib, "version": version, "diverged": diverged, "auc": float(roc_auc_score(y_test, preds)), "logloss": float(log_loss(y_test, preds, labels=[0, 1])), "fit_seconds": secs, "train_samples": int(n), "samples_per_sec": n / secs}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
