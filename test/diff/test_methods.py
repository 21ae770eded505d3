#!/usr/bin/env python3
"""Differential tests of the clustering methods besides k-means: custseg against scikit-learn on the
same rows (the clustering space, read back with custseg_transform).

- gmm against GaussianMixture: from the same start (custseg's means_init M; scikit-learn's
  means_init M with weights_init and precisions_init of the hard assignment of each row to its
  nearest M row), full and diag, on planted customers and on the wholesale table, with and without
  PCA: means, weights and covariances within 1e-6 (relative to the largest entry), the total
  log-likelihood within 1e-9 relative, the same labels, custseg_score's probabilities within 1e-6
  of predict_proba. From its own starts (n_init = 10) custseg's log-likelihood is no worse than
  scikit-learn's best of 10. custseg_evaluate_k's BIC and AIC are scikit-learn's formulas.
- hierarchical against AgglomerativeClustering(linkage="ward"): every row's label at the model's k
  and, through custseg_cut, at every k of 2..10, equal up to renumbering; the merge heights.
- dbscan against DBSCAN(algorithm="brute"): the core rows, the noise rows and the clusters of the
  core rows equal; border rows within eps of a core row of their cluster (custseg gives a border
  row its nearest core row's cluster, scikit-learn the first cluster that reaches it); eps null is
  the knee of the k-distance curve.
- outliers: precision and recall of custseg_score's flag against planted far-away rows for every
  method, custseg_outliers listing exactly the flagged rows, the stored thresholds as numpy's
  quantiles; the adjusted Rand index on planted segments; the wholesale table's segment sizes.
- option errors: a key of another method and dbscan with k give 22023, hierarchical over
  60000 rows 54000.

Run with Debian's interpreter: /usr/bin/python3 test/diff/test_methods.py
"""
import collections
import io
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import psycopg2
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import DBSCAN, AgglomerativeClustering
from sklearn.cluster._agglomerative import _hc_cut
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky, _estimate_gaussian_parameters

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
sys.path.insert(0, os.path.join(ROOT, "test", "data"))
import gen_customers  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=ConvergenceWarning)

failures = []
checks = 0

PLANTED_EXCLUDE = ["customer_id", "segment"]
WHOLESALE = dict(exclude=["Customer ID"], categorical=["Channel", "Region"])
LOG1P = {c: "log1p" for c in ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")}
GMM_TOL, GMM_MAX_ITER, GMM_REG = 1e-6, 500, 1e-6  # the runs from means_init
GMM_TOL_OWN, GMM_MAX_ITER_OWN = 1e-10, 2000        # the runs from each side's own n_init = 10 starts


def check(ok, what):
    global checks
    checks += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def rel_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))


def scaled_diff(a, b):
    """max |a - b| over the largest |b|: relative to the scale of the whole array, so that an entry
    near zero (a mean at the origin, an off-diagonal covariance) is not held to its own size."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def load_csv(cur, table, path, columns):
    cur.execute(f'DROP TABLE IF EXISTS "{table}"')
    cols = ", ".join(f'"{name}" {sqltype}' for name, sqltype in columns)
    cur.execute(f'CREATE TABLE "{table}" ({cols})')
    with open(path) as f:
        cur.copy_expert(f'COPY "{table}" FROM STDIN WITH (FORMAT csv, HEADER true)', f)


def load_rows(cur, table, rows):
    buf = io.StringIO()
    gen_customers.write_csv(rows, buf)
    buf.seek(0)
    cur.execute(f'DROP TABLE IF EXISTS "{table}"')
    cols = ", ".join(f'"{c}" {gen_customers.SQL_TYPES[c]}' for c in gen_customers.COLUMNS)
    cur.execute(f'CREATE TABLE "{table}" ({cols})')
    cur.copy_expert(f'COPY "{table}" FROM STDIN WITH (FORMAT csv, HEADER true)', buf)


def load_generated(cur, table, rows, segments, seed):
    load_rows(cur, table, gen_customers.generate(rows, segments, seed))


def planted_outlier_rows(rows, n_outliers, seed):
    """gen_customers' planted segments (3) and n_outliers extreme customers after them: each one
    3 to 4 times as far from the centre of the segments as one segment's centre, plus the usual
    noise (far outside every segment in the directions that separate the segments)."""
    out = gen_customers.generate(rows, 3, seed)
    rng = np.random.default_rng(seed + 1000)
    centres = gen_customers.CENTRES[:3]
    grand = centres.mean(axis=0)
    for i in range(n_outliers):
        s = i % 3
        v = grand + rng.uniform(3, 4) * (centres[s] - grand) + rng.normal(size=len(gen_customers.NUMERIC)) * gen_customers.NOISE
        row = {"customer_id": rows + i + 1}
        for j, name in enumerate(gen_customers.NUMERIC):
            row[name] = int(round(v[j])) if name in ("age", "visits_per_month") else round(float(v[j]), 2)
        row["region"] = gen_customers.REGIONS[s % len(gen_customers.REGIONS)]
        row["channel"] = gen_customers.CHANNELS[s % len(gen_customers.CHANNELS)]
        row["segment"] = s
        out.append(row)
    return out


def fit(cur, table, options):
    cur.execute(f'SELECT custseg_fit(t.*, %s) FROM "{table}" t', (json.dumps(options),))
    model_text = cur.fetchone()[0]
    cur.execute("SELECT custseg_model_json(%s::custseg_model)", (model_text,))
    return model_text, cur.fetchone()[0]


def train(cur, name, table, options):
    """custseg_train (a named model, for custseg_score(row, name) and custseg_outliers)."""
    # The k argument left at its default gives way to "k" in options (dbscan takes none).
    cur.execute("SELECT model::text FROM custseg_train(%s, %s::regclass, options => %s)",
                (name, f'"{table}"', json.dumps(options)))
    model_text = cur.fetchone()[0]
    cur.execute("SELECT custseg_model_json(%s::custseg_model)", (model_text,))
    return model_text, cur.fetchone()[0]


def keys_of(cur, table, key):
    cur.execute(f'SELECT "{key}" FROM "{table}" ORDER BY "{key}"')
    return np.array([r[0] for r in cur.fetchall()])


def coordinates(cur, table, key, model_text):
    cur.execute(f'SELECT custseg_transform(%s::custseg_model, t) FROM "{table}" t ORDER BY "{key}"', (model_text,))
    return np.array([r[0] for r in cur.fetchall()], dtype=float)


def predictions(cur, table, key, model_text):
    """custseg_predict of every row (None for dbscan's noise)."""
    cur.execute(f'SELECT custseg_predict(%s::custseg_model, t) FROM "{table}" t ORDER BY "{key}"', (model_text,))
    return [r[0] for r in cur.fetchall()]


SCORE_COLUMNS = "segment, distance, distances, probabilities, outlier, reason"
SCORE_SELECT = ", ".join("s." + c for c in SCORE_COLUMNS.split(", "))


def scores_of_model(cur, table, key, model_text):
    cur.execute(f'SELECT {SCORE_SELECT} FROM "{table}" t CROSS JOIN LATERAL custseg_score(%s::custseg_model, t) s '
                f'ORDER BY t."{key}"', (model_text,))
    return [dict(zip(SCORE_COLUMNS.split(", "), r)) for r in cur.fetchall()]


def scores_of_name(cur, table, key, name):
    cur.execute(f'SELECT {SCORE_SELECT} FROM "{table}" t CROSS JOIN LATERAL custseg_score(t.*, %s) s '
                f'ORDER BY t."{key}"', (name,))
    return [dict(zip(SCORE_COLUMNS.split(", "), r)) for r in cur.fetchall()]


def index_of_segments(m, labels):
    """Segment numbers (custseg_predict) as indices of the model's centroids; -1 for None."""
    index = {s: i for i, s in enumerate(m["kmeans"]["segments"])}
    return np.array([-1 if l is None else index[l] for l in labels])


def pairwise(A, B):
    """Exact Euclidean distances (no |a|^2 - 2ab + |b|^2 shortcut)."""
    out = np.empty((len(A), len(B)))
    for i in range(0, len(A), 256):
        out[i:i + 256] = np.sqrt(np.sum((A[i:i + 256, None, :] - B[None, :, :]) ** 2, axis=2))
    return out


# ---- gmm ----------------------------------------------------------------------------------------

def sklearn_from_start(X, M, covariance_type):
    """scikit-learn's GaussianMixture started as custseg starts from means_init M: means M, weights
    and covariances of the hard assignment of every row to its nearest M row."""
    nearest = np.argmin(pairwise(X, M), axis=1)
    resp = np.zeros((len(X), len(M)))
    resp[np.arange(len(X)), nearest] = 1
    nk, _, cov = _estimate_gaussian_parameters(X, resp, GMM_REG, covariance_type)
    if covariance_type == "full":
        prec = np.array([np.linalg.inv(c) for c in cov])
        prec = (prec + np.transpose(prec, (0, 2, 1))) / 2  # scikit-learn checks that they are symmetric
    else:
        prec = 1 / cov
    return GaussianMixture(n_components=len(M), covariance_type=covariance_type, tol=GMM_TOL, max_iter=GMM_MAX_ITER,
                           reg_covar=GMM_REG, means_init=M, weights_init=nk / len(X), precisions_init=prec,
                           random_state=0).fit(X)


def gmm_vs_sklearn(cur, table, key, name, base, k):
    base = dict(base, k=k)
    text_km, mk = fit(cur, table, base)
    X = coordinates(cur, table, key, text_km)
    n, p = X.shape
    # The start: the row nearest each k-means centroid (a start every component of which has rows).
    M = X[np.argmin(pairwise(np.array(mk["kmeans"]["centroids"]), X), axis=1)]
    for cov_type in ("full", "diag"):
        what = f"{name}, gmm {cov_type}"
        options = dict(base, method="gmm", covariance_type=cov_type, tol=GMM_TOL, max_iter=GMM_MAX_ITER,
                       reg_covar=GMM_REG, means_init=M.tolist())
        text, m = fit(cur, table, options)
        Xg = coordinates(cur, table, key, text)
        check(scaled_diff(Xg, X) == 0, f"{what}: the clustering space is k-means' ({n} rows x {p})")
        gm = sklearn_from_start(X, M, cov_type)
        means = np.array(m["kmeans"]["centroids"])
        # Components in scikit-learn's order (means_init keeps it; matched by the means in case not).
        _, order = linear_sum_assignment(pairwise(gm.means_, means))
        means = means[order]
        weights = np.array(m["method"]["weights"])[order]
        covs = np.array(m["method"]["covariances"])[order]
        if cov_type == "full":
            covs = covs.reshape(k, p, p)
        check(list(order) == list(range(k)), f"{what}: components in the order of means_init ({list(order)})")
        d = scaled_diff(means, gm.means_)
        check(d < 1e-6, f"{what}: means within 1e-6 (max diff {d:.2e} of the largest)")
        d = rel_diff(weights, gm.weights_)
        check(d < 1e-6, f"{what}: weights within 1e-6 (max rel diff {d:.2e})")
        d = max(scaled_diff(covs[c], gm.covariances_[c]) for c in range(k))
        check(d < 1e-6, f"{what}: covariances within 1e-6 (max diff {d:.2e} of the largest entry)")
        ours, theirs = m["method"]["log_likelihood"], gm.score(X) * n
        d = rel_diff(ours, theirs)
        check(d < 1e-9, f"{what}: log-likelihood {ours:.12g} equals score(X) * n {theirs:.12g} (rel diff {d:.2e}); "
                        f"iterations {m['training']['n_iter']:g} and {gm.n_iter_}")
        idx = index_of_segments(m, predictions(cur, table, key, text))
        inverse = np.argsort(order)  # custseg centroid index -> scikit-learn component
        labels = inverse[idx]
        same = int(np.sum(labels == gm.predict(X)))
        check(same == n, f"{what}: custseg_predict equals predict(X) on every row ({same}/{n})")
        sc = scores_of_model(cur, table, key, text)
        proba = np.array([r["probabilities"] for r in sc], dtype=float)[:, order]
        d = float(np.max(np.abs(proba - gm.predict_proba(X))))
        check(d < 1e-6, f"{what}: custseg_score probabilities equal predict_proba within 1e-6 (max diff {d:.2e})")
        # From its own starts: no worse than scikit-learn's best of ten. Both run EM to convergence
        # (at the default tol, 1e-3 per row, a run stops up to about n * tol short of its optimum,
        # more than the slack of the comparison).
        own = dict(base, method="gmm", covariance_type=cov_type, n_init=10, seed=1, tol=GMM_TOL_OWN,
                   max_iter=GMM_MAX_ITER_OWN)
        _, m10 = fit(cur, table, own)
        gm10 = GaussianMixture(n_components=k, covariance_type=cov_type, n_init=10, random_state=0, tol=GMM_TOL_OWN,
                               max_iter=GMM_MAX_ITER_OWN, reg_covar=GMM_REG).fit(X)
        ours, theirs = m10["method"]["log_likelihood"], gm10.score(X) * n
        check(ours >= theirs - 1e-9 * abs(theirs),
              f"{what}, n_init 10: log-likelihood {ours:.10g} no worse than scikit-learn's best of 10 {theirs:.10g}")


def bic_aic_vs_sklearn(cur, table, base):
    """custseg_evaluate_k's BIC and AIC are -2 log L + p ln n and -2 log L + 2 p, log L the
    log-likelihood of the model custseg_fit gives with that k, p scikit-learn's free parameters."""
    options = dict(base, method="gmm", seed=3)
    exclude = options.pop("exclude")
    cur.execute("SELECT k, bic, aic, rows_clustered FROM custseg_evaluate_k(%s::regclass, 2, 5, exclude => %s, "
                "options => %s) ORDER BY k", (f'"{table}"', exclude, json.dumps(options)))
    worst = 0.0
    for k, bic, aic, rows in cur.fetchall():
        _, m = fit(cur, table, dict(options, exclude=exclude, k=k))
        gm = GaussianMixture(n_components=k)
        gm.covariance_type = "full"
        gm.means_ = np.zeros((k, len(m["kmeans"]["centroids"][0])))
        free = gm._n_parameters()
        ll = m["method"]["log_likelihood"]
        worst = max(worst, rel_diff([bic, aic], [-2 * ll + free * math.log(rows), -2 * ll + 2 * free]))
    check(worst < 1e-9, f"{table}: custseg_evaluate_k's BIC and AIC for gmm, k = 2..5, are scikit-learn's formulas "
                        f"on custseg_fit's log-likelihood (max rel diff {worst:.2e})")


# ---- hierarchical -------------------------------------------------------------------------------

def hierarchical_vs_sklearn(cur, table, key, name, base, k):
    text, m = fit(cur, table, dict(base, k=k, method="hierarchical"))
    X = coordinates(cur, table, key, text)
    ag = AgglomerativeClustering(n_clusters=k, linkage="ward", compute_full_tree=True, compute_distances=True).fit(X)
    ari = adjusted_rand_score(ag.labels_, predictions(cur, table, key, text))
    check(ari == 1.0, f"{name}, hierarchical k = {k}: every row's segment equals Ward's up to renumbering (ARI {ari})")
    heights = np.sort(np.array(m["method"]["tree"]["heights"], dtype=float))
    d = rel_diff(heights, np.sort(ag.distances_)) if len(heights) == len(ag.distances_) else float("inf")
    check(d < 1e-9, f"{name}, hierarchical: the {len(heights)} merge heights equal scikit-learn's distances_ "
                    f"(max rel diff {d:.2e})")
    # custseg_tree: the rows as leaves, then the merges; the leaves' segments are the rows' segments.
    cur.execute("SELECT count(*), count(*) FILTER (WHERE children IS NULL), "
                "array_agg(segment ORDER BY node) FILTER (WHERE children IS NULL) FROM custseg_tree(%s::custseg_model)",
                (text,))
    nodes, leaves, leaf_segments = cur.fetchone()
    sizes = collections.Counter(predictions(cur, table, key, text))
    check(nodes == 2 * len(X) - 1 and leaves == len(X) and collections.Counter(leaf_segments) == sizes,
          f"{name}, hierarchical: custseg_tree has {nodes} nodes, {leaves} leaves whose segments are the rows' "
          f"({dict(sorted(collections.Counter(leaf_segments).items()))})")
    worst, changed = 1.0, 0
    for kk in range(2, 11):
        cur.execute("SELECT custseg_cut(%s::custseg_model, %s)::text", (text, kk))
        cut = cur.fetchone()[0]
        theirs = _hc_cut(kk, ag.children_, len(X))
        ari = adjusted_rand_score(theirs, predictions(cur, table, key, cut))
        worst = min(worst, ari)
        changed += ari != 1.0
    check(worst == 1.0, f"{name}, hierarchical: custseg_cut at k = 2..10 equals Ward's cut on every row "
                        f"(lowest ARI {worst}, {changed} k differ)")


# ---- dbscan -------------------------------------------------------------------------------------

def knee(sorted_values):
    """The Kneedle rule: the point farthest below the chord of the curve, both axes scaled to [0, 1]."""
    y = np.asarray(sorted_values, float)
    x = np.linspace(0, 1, len(y))
    span = y[-1] - y[0]
    gap = x - (y - y[0]) / span if span > 0 else np.zeros_like(y)
    return float(y[int(np.argmax(gap))])


def rounded(rows):
    return {tuple(np.round(r, 8)) for r in np.asarray(rows, float)}


def dbscan_vs_sklearn(cur, table, key, name, base, min_samples=5):
    # eps null: the knee of the k-distance curve.
    text, m = fit(cur, table, dict(base, method="dbscan", eps=None, min_samples=min_samples))
    X = coordinates(cur, table, key, text)
    D = pairwise(X, X)
    kdist = np.sort(np.partition(D, min_samples - 1, axis=1)[:, min_samples - 1])
    chosen = m["method"]["eps"]
    theirs = knee(kdist)
    labels = predictions(cur, table, key, text)
    noise = sum(l is None for l in labels)
    check(m["kmeans"]["k"] >= 1 and rel_diff(chosen, theirs) < 1e-9,
          f"{name}, dbscan eps null: eps {chosen:.6g} is the knee of the {min_samples}-distance curve ({theirs:.6g}); "
          f"{m['kmeans']['k']} clusters, {noise} noise rows of {len(X)}")
    for eps in (chosen, 0.6 * chosen):
        what = f"{name}, dbscan eps {eps:.4g} min_samples {min_samples}"
        text, m = fit(cur, table, dict(base, method="dbscan", eps=eps, min_samples=min_samples))
        db = DBSCAN(eps=eps, min_samples=min_samples, algorithm="brute").fit(X)
        # The knee's eps is a distance between two rows: scikit-learn computes distances as
        # sqrt(|x|^2 - 2 x.y + |y|^2), which can round such a pair across eps. Where its core rows
        # differ from those of the exact distances only in rows with a distance within 1e-12 of eps,
        # the reference is scikit-learn's DBSCAN on the exact distances (metric "precomputed").
        exact = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(D)
        moved = set(db.core_sample_indices_.tolist()) ^ set(exact.core_sample_indices_.tolist())
        if moved:
            on_edge = {i for i in moved if np.any(np.abs(D[i] - eps) <= 1e-12 * eps)}
            check(on_edge == moved, f"{what}: the {len(moved)} rows whose core status scikit-learn's brute distances "
                                    f"change lie on the eps boundary ({len(on_edge)}); compared with exact distances")
            db = exact
        ours_core = rounded(m["method"]["core_points"])
        theirs_core = rounded(X[db.core_sample_indices_])
        check(ours_core == theirs_core, f"{what}: the core rows equal scikit-learn's ({len(ours_core)} distinct; "
                                        f"{len(ours_core - theirs_core)} only custseg's, "
                                        f"{len(theirs_core - ours_core)} only scikit-learn's)")
        labels = predictions(cur, table, key, text)
        ours_noise = {i for i, l in enumerate(labels) if l is None}
        theirs_noise = set(np.flatnonzero(db.labels_ < 0).tolist())
        check(ours_noise == theirs_noise, f"{what}: the noise rows (segment NULL) equal scikit-learn's "
                                          f"({len(ours_noise)} and {len(theirs_noise)})")
        is_core = np.zeros(len(X), bool)
        is_core[db.core_sample_indices_] = True
        core_ours = [labels[i] for i in np.flatnonzero(is_core)]
        ari = adjusted_rand_score(db.labels_[is_core], core_ours)
        check(m["kmeans"]["k"] == len(set(db.labels_[db.labels_ >= 0])) and ari == 1.0,
              f"{what}: {m['kmeans']['k']} clusters, the core rows' equal scikit-learn's up to renumbering (ARI {ari})")
        # Border rows: clustered, not core. custseg's cluster is that of the nearest core row.
        to_theirs = {}
        for o, t in zip(core_ours, db.labels_[is_core]):
            to_theirs.setdefault(o, t)
        border = [i for i in range(len(X)) if labels[i] is not None and not is_core[i]]
        differ = sum(to_theirs.get(labels[i]) != db.labels_[i] for i in border)
        core_idx = np.flatnonzero(is_core)
        core_lab = np.array([labels[i] for i in core_idx])
        within = nearest = True
        for i in border:
            dist = D[i, core_idx]
            within &= bool(np.min(dist[core_lab == labels[i]]) <= eps * (1 + 1e-12))
            nearest &= bool(core_lab[np.argmin(dist)] == labels[i])
        check(within and nearest, f"{what}: each of the {len(border)} border rows lies within eps of a core row of its "
                                  f"cluster, the nearest one ({differ} in another cluster than scikit-learn's)")


# ---- outliers, planted segments, wholesale sizes ------------------------------------------------

METHODS = ("kmeans", "gmm", "hierarchical", "dbscan")


def method_options(method, base, k=3):
    o = dict(base, method=method, seed=1)
    if method != "dbscan":
        o["k"] = k
    return o


def outliers(cur, quantiles):
    table, rows, planted = "methods_outliers", 2000, 10
    load_rows(cur, table, planted_outlier_rows(rows, planted, 11))
    ids = keys_of(cur, table, "customer_id")
    truth = ids > rows

    def one(method):
        options = method_options(method, {"exclude": PLANTED_EXCLUDE})
        q = quantiles.get(method)
        if q is not None:
            options["outlier_quantile"] = q
        name = f"methods_outliers_{method}"
        text, m = train(cur, name, table, options)
        sc = scores_of_name(cur, table, "customer_id", name)
        flagged = np.array([bool(r["outlier"]) for r in sc])
        tp = int(np.sum(flagged & truth))
        precision = tp / max(int(np.sum(flagged)), 1)
        recall = tp / planted
        setting = "dbscan's noise" if method == "dbscan" else \
            f"outlier_quantile {q if q is not None else 0.99}{'' if q is None else ' (the default 0.99 misses)'}"
        print(f"outliers, {method}: {int(np.sum(flagged))} flagged of {len(ids)}, precision {precision:.3f}, "
              f"recall {recall:.3f} ({setting})")
        check(recall >= 0.9, f"outliers, {method}: recall {recall:.3f} >= 0.9 against {planted} planted far-away rows")
        cur.execute("SELECT (o.\"row\" ->> 'customer_id')::integer FROM custseg_outliers(%s::regclass, %s) o",
                    (table, name))
        listed = sorted(r[0] for r in cur.fetchall())
        check(listed == sorted(ids[flagged].tolist()),
              f"outliers, {method}: custseg_outliers lists exactly the {int(np.sum(flagged))} rows custseg_score flags "
              f"({len(listed)} listed)")
        if method in ("kmeans", "gmm"):
            thresholds_vs_numpy(cur, table, method, text, m, sc)

    for method in METHODS:
        run(f"outliers, {method}", one, method)


def thresholds_vs_numpy(cur, table, method, text, m, sc):
    """The stored per-segment thresholds are numpy.quantile (linear) of the training rows' distance
    to their centroid (k-means) or log-likelihood from below (gmm, under custseg's parameters)."""
    X = coordinates(cur, table, "customer_id", text)
    q = m["method"]["outlier_quantile"]
    idx = index_of_segments(m, [r["segment"] for r in sc])
    centres = np.array(m["kmeans"]["centroids"])
    k, p = centres.shape
    if method == "kmeans":
        value = np.sqrt(np.sum((X - centres[idx]) ** 2, axis=1))
        qq = q
    else:
        gm = GaussianMixture(n_components=k, covariance_type=m["method"]["covariance_type"])
        gm.weights_ = np.array(m["method"]["weights"])
        gm.means_ = centres
        covs = np.array(m["method"]["covariances"])
        gm.covariances_ = covs.reshape(k, p, p) if gm.covariance_type == "full" else covs
        gm.precisions_cholesky_ = _compute_precision_cholesky(gm.covariances_, gm.covariance_type)
        value = gm.score_samples(X)
        qq = 1 - q
    theirs = [np.quantile(value[idx == c], qq) for c in range(k)]
    d = rel_diff(m["method"]["outlier_thresholds"], theirs)
    check(d < 1e-9, f"outliers, {method}: the {k} stored thresholds are numpy's {qq:g} quantiles of "
                    f"{'the distances to the centroid' if method == 'kmeans' else 'the log-likelihoods'} "
                    f"(max rel diff {d:.2e})")


def planted_ari(cur):
    table = "methods_ari"
    load_generated(cur, table, 1500, 3, 5)
    truth = np.array([int(s) for s in fetch_column(cur, table, "customer_id", "segment")])

    def one(method):
        text, m = fit(cur, table, method_options(method, {"exclude": PLANTED_EXCLUDE}))
        labels = predictions(cur, table, "customer_id", text)
        # Noise as a segment of its own (the ARI then counts it as one more cluster).
        ari = adjusted_rand_score(truth, [-1 if l is None else l for l in labels])
        noise = sum(l is None for l in labels)
        print(f"planted segments (1500 rows, 3 segments, seed 5), {method}: ARI {ari:.4f}, {m['kmeans']['k']} segments"
              + (f", {noise} noise rows" if method == "dbscan" else ""))
        if method != "dbscan":
            check(ari >= 0.9, f"planted segments, {method}: ARI {ari:.4f} >= 0.9")
        r = scores_of_model(cur, table, "customer_id", text)[0]
        shape_ok = (r["distances"] is None) == (method == "dbscan") and (r["probabilities"] is None) == (method != "gmm")
        if method in ("kmeans", "hierarchical"):
            shape_ok = shape_ok and len(r["distances"]) == m["kmeans"]["k"] and \
                abs(r["distances"][m["kmeans"]["segments"].index(r["segment"])] - r["distance"]) < 1e-12
        if method == "gmm":
            shape_ok = shape_ok and abs(sum(r["probabilities"]) - 1) < 1e-12
        check(shape_ok, f"planted segments, {method}: custseg_score's distances and probabilities as documented")

    for method in METHODS:
        run(f"planted segments, {method}", one, method)


def fetch_column(cur, table, key, column):
    cur.execute(f'SELECT "{column}" FROM "{table}" ORDER BY "{key}"')
    return [r[0] for r in cur.fetchall()]


def wholesale_sizes(cur):
    base = dict(WHOLESALE, transform=LOG1P)

    def one(method):
        text, m = fit(cur, "methods_wholesale", method_options(method, base))
        counts = collections.Counter(predictions(cur, "methods_wholesale", "Customer ID", text))
        sizes = ", ".join(f"{s}: {counts[s]}" for s in m["kmeans"]["segments"])
        extra = f", noise {counts[None]} (eps {m['method']['eps']:.4g})" if method == "dbscan" else ""
        print(f"wholesale (log1p, 440 rows), {method}: segment sizes {sizes}{extra}")

    for method in METHODS:
        run(f"wholesale sizes, {method}", one, method)


def errors(cur):
    def sqlstate(sql, args):
        try:
            cur.execute(sql, args)
            cur.fetchall()
            return None
        except psycopg2.Error as e:
            return e.pgcode
    fit_sql = 'SELECT custseg_fit(t.*, %s) FROM "methods_wholesale" t'
    for options, want, what in (
            ({"method": "gmm", "k": 3, "eps": 0.5}, "22023", "gmm with dbscan's \"eps\""),
            ({"method": "kmeans", "k": 3, "covariance_type": "diag"}, "22023", "kmeans with gmm's \"covariance_type\""),
            ({"method": "dbscan", "k": 3}, "22023", "dbscan with \"k\""),
            ({"method": "hierarchical", "k": 3, "sample_size": 60000}, "54000", "hierarchical with sample_size 60000")):
        got = sqlstate(fit_sql, (json.dumps(dict(options, exclude=["Customer ID"])),))
        check(got == want, f"errors: custseg_fit, {what}: SQLSTATE {got} (want {want})")
    got = sqlstate("SELECT custseg_train('methods_err', 'methods_wholesale', k => 4, options => %s)",
                   (json.dumps({"method": "dbscan"}),))
    check(got == "22023", f"errors: custseg_train, dbscan with k => 4: SQLSTATE {got} (want 22023)")


def run(what, fn, *args, **kwargs):
    """One part of the test: an error in it (a server error, a missing key in the model's JSON) is
    one failure, and the other parts still run."""
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported as a failure, with its kind and first line
        code = getattr(e, "pgcode", None)
        first = (str(e).strip().splitlines() or [""])[0]
        check(False, f"{what}: {type(e).__name__}{' ' + code if code else ''}: {first}")


def main():
    started = time.time()
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS custseg")
    cur.execute("SET client_min_messages = warning")
    load_csv(cur, "methods_wholesale", os.path.join(SHARED, "wholesale_customers.csv"),
             [("Customer ID", "int"), ("Channel", "int"), ("Region", "int"), ("Fresh", "int"), ("Milk", "int"),
              ("Grocery", "int"), ("Frozen", "int"), ("Detergents_Paper", "int"), ("Delicassen", "int")])
    load_generated(cur, "methods_planted", 1500, 3, 1)
    tables = (("methods_planted", "customer_id", "planted", {"exclude": PLANTED_EXCLUDE}),
              ("methods_wholesale", "Customer ID", "wholesale log1p", dict(WHOLESALE, transform=LOG1P)))
    for nc in (2, None):
        for table, key, name, base in tables:
            what = f"{name}, n_components {json.dumps(nc)}"
            run(f"{what}, gmm", gmm_vs_sklearn, cur, table, key, what, dict(base, n_components=nc), 3)
    run("BIC and AIC", bic_aic_vs_sklearn, cur, "methods_planted", tables[0][3])
    for nc in (2, None):
        for (table, key, name, base), k in zip(tables, (3, 4)):
            what = f"{name}, n_components {json.dumps(nc)}"
            run(f"{what}, hierarchical", hierarchical_vs_sklearn, cur, table, key, what, dict(base, n_components=nc), k)
    for (table, key, name, base), nc, min_samples in zip(tables + tables[1:], (2, 2, None), (5, 5, 8)):
        what = f"{name}, n_components {json.dumps(nc)}"
        run(f"{what}, dbscan", dbscan_vs_sklearn, cur, table, key, what, dict(base, n_components=nc), min_samples)
    run("outliers", outliers, cur, {})
    run("planted segments", planted_ari, cur)
    run("wholesale sizes", wholesale_sizes, cur)
    run("errors", errors, cur)
    for t in ("methods_wholesale", "methods_planted", "methods_outliers", "methods_ari"):
        cur.execute(f'DROP TABLE IF EXISTS "{t}"')
    print(f"methods: {checks - len(failures)} passed, {len(failures)} failed ({time.time() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
