#!/usr/bin/env python3
"""Differential tests: custseg against scikit-learn on the same rows.

Runs against the PostgreSQL server in the PG* environment (the extension installed). For the three
shared real tables and generated customers with planted segments, custseg_fit in scale_categoricals
mode must agree with the notebook's pipeline (pandas.get_dummies, StandardScaler,
PCA(svd_solver="full"), KMeans): scaler means and scales and PCA explained variance within 1e-9
relative, components equal up to sign, inertia no worse than scikit-learn's (1e-6), the metrics
custseg stores equal scikit-learn's on custseg's labels (1e-9), and custseg_predict equals
scikit-learn's KMeans.predict with custseg's centroids on every row. Then default options must
recover planted segments with adjusted Rand index >= 0.95 for seeds 1..10.

Run with Debian's interpreter: /usr/bin/python3 test/diff/test_sklearn.py
"""
import io
import json
import os
import sys
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg2
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
sys.path.insert(0, os.path.join(ROOT, "test", "data"))
import gen_customers  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)

failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def rel_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)))


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


def load_generated(cur, table, rows, segments, seed):
    buf = io.StringIO()
    gen_customers.write_csv(gen_customers.generate(rows, segments, seed), buf)
    buf.seek(0)
    cur.execute(f'DROP TABLE IF EXISTS "{table}"')
    cols = ", ".join(f'"{c}" {gen_customers.SQL_TYPES[c]}' for c in gen_customers.COLUMNS)
    cur.execute(f'CREATE TABLE "{table}" ({cols})')
    cur.copy_expert(f'COPY "{table}" FROM STDIN WITH (FORMAT csv, HEADER true)', buf)


def fetch_frame(cur, table, key):
    cur.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')
    names = [d[0] for d in cur.description]
    data = [[float(v) if isinstance(v, Decimal) else v for v in row] for row in cur.fetchall()]
    return pd.DataFrame(data, columns=names)


def fit(cur, table, options):
    cur.execute(f'SELECT custseg_fit(t, %s), custseg_model_json(custseg_fit(t, %s)) FROM "{table}" t',
                (json.dumps(options), json.dumps(options)))
    model_text, model = cur.fetchone()
    return model_text, model


def predictions(cur, table, key, model_text):
    cur.execute(f'SELECT custseg_predict(%s::custseg_model, t) FROM "{table}" t ORDER BY "{key}"', (model_text,))
    return np.array([r[0] for r in cur.fetchall()])


def notebook_matrix(df, exclude, categorical, transform=None):
    """The notebook's preprocessing: forced categoricals as strings, per-column transforms (clipping
    at pandas' quantiles, then log1p), mean imputation, get_dummies."""
    X = df.drop(columns=exclude).copy()
    for c in categorical:
        X[c] = X[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    for c in X.columns:
        if X[c].dtype != object:
            X[c] = X[c].astype(float)
            spec = (transform or {}).get(c)
            if isinstance(spec, dict) and "clip_quantiles" in spec:
                lo, hi = spec["clip_quantiles"]
                X[c] = X[c].clip(X[c].quantile(lo), X[c].quantile(hi))
            if spec == "log1p" or (isinstance(spec, dict) and spec.get("log1p")):
                X[c] = np.log1p(X[c])
            X[c] = X[c].fillna(X[c].mean())
    return pd.get_dummies(X, prefix_sep="_")


def check_stored_metrics(name, X, labels, centres, m):
    """The model's stored inertia equals that of its labels and centroids on X, and its silhouette,
    Calinski-Harabasz and Davies-Bouldin equal scikit-learn's on the same labels (1e-9)."""
    recomputed = float(np.sum((X - centres[labels]) ** 2))
    d = rel_diff(recomputed, m["training"]["inertia"])
    check(d < 1e-9, f"{name}: stored inertia equals the inertia of custseg's labels and centroids (rel diff {d:.2e})")
    for metric, fn in (("silhouette", silhouette_score), ("calinski_harabasz", calinski_harabasz_score),
                       ("davies_bouldin", davies_bouldin_score)):
        theirs = fn(X, labels)
        d = rel_diff(theirs, m["training"][metric])
        check(d < 1e-9, f"{name}: {metric} {m['training'][metric]:.10g} equals scikit-learn's on custseg's labels "
                        f"{theirs:.10g} (rel diff {d:.2e})")


def check_pca(name, Xs, m, n_components):
    """custseg's PCA against scikit-learn's full SVD of the same scaled matrix: explained variance
    and ratio within 1e-9 relative, components equal up to sign. Returns scikit-learn's PCA and the
    signs that turn custseg's components into its."""
    pca = PCA(n_components=n_components, svd_solver="full").fit(Xs)
    d = rel_diff(pca.explained_variance_, m["pca"]["explained_variance"])
    check(d < 1e-9, f"{name}: PCA explained variance within 1e-9 (max rel diff {d:.2e})")
    d = rel_diff(pca.explained_variance_ratio_, m["pca"]["explained_variance_ratio"])
    check(d < 1e-9, f"{name}: PCA explained variance ratio within 1e-9 (max rel diff {d:.2e})")
    comps = np.array(m["pca"]["components"])
    signs = np.sign(np.sum(comps * pca.components_, axis=1))
    d = float(np.max(np.abs(comps * signs[:, None] - pca.components_)))
    check(d < 1e-9, f"{name}: PCA components equal up to sign (max abs diff {d:.2e})")
    return pca, signs


def differential(cur, table, key, exclude, categorical, seed, transform=None):
    name = table + (" with transforms" if transform else "")
    df = fetch_frame(cur, table, key)
    options = {"k": 3, "n_components": 2, "exclude": exclude, "categorical": categorical, "seed": seed,
               "n_init": 10, "scale_categoricals": True}
    if transform:
        # The quantiles of clip_quantiles come from custseg's first pass, as custseg_train runs it.
        options["transform"] = transform
        cur.execute("SELECT custseg_resolve_options(%s::regclass, %s)", (f'"{table}"', json.dumps(options)))
        options = cur.fetchone()[0]
        for c, spec in transform.items():
            if isinstance(spec, dict) and "clip_quantiles" in spec:
                theirs = [df[c].astype(float).quantile(q) for q in spec["clip_quantiles"]]
                d = rel_diff(theirs, options["transform"][c]["clip"])
                check(d < 1e-12, f"{name}: {c} clip bounds equal pandas' quantiles (max rel diff {d:.2e})")
    model_text, m = fit(cur, table, options)
    X = notebook_matrix(df, exclude, categorical, transform)
    check(list(X.columns) == m["columns"], f"{name}: encoded columns match get_dummies ({len(X.columns)})")
    Xv = X.to_numpy(dtype=float)
    scaler = StandardScaler().fit(Xv)
    d = rel_diff(scaler.mean_, m["scaler"]["mean"])
    check(d < 1e-9, f"{name}: scaler means within 1e-9 (max rel diff {d:.2e})")
    d = rel_diff(scaler.scale_, m["scaler"]["scale"])
    check(d < 1e-9, f"{name}: scaler scales within 1e-9 (max rel diff {d:.2e})")
    Xs = scaler.transform(Xv)
    pca, signs = check_pca(name, Xs, m, 2)
    Xp = pca.transform(Xs)
    km = KMeans(n_clusters=3, n_init=10, random_state=0).fit(Xp)
    ours = m["training"]["inertia"]
    check(ours <= km.inertia_ * (1 + 1e-6),
          f"{name}: custseg inertia {ours:.10g} <= scikit-learn's {km.inertia_:.10g} (1e-6)")
    labels = predictions(cur, table, key, model_text)
    centres = np.array(m["kmeans"]["centroids"]) * signs[None, :]  # into scikit-learn's PCA signs
    check_stored_metrics(name, Xp, labels, centres, m)
    # "metric_space": "features": the same segments, the metrics on the standardized features (before PCA).
    _, mf = fit(cur, table, dict(options, metric_space="features"))
    check(mf["kmeans"]["centroids"] == m["kmeans"]["centroids"], f"{name}: metric_space leaves the segments as they are")
    for metric, fn in (("silhouette", silhouette_score), ("calinski_harabasz", calinski_harabasz_score),
                       ("davies_bouldin", davies_bouldin_score)):
        theirs = fn(Xs, labels)
        d = rel_diff(theirs, mf["training"][metric])
        check(d < 1e-9, f"{name}: {metric} in the feature space {mf['training'][metric]:.10g} equals scikit-learn's "
                        f"on the scaled features {theirs:.10g} (rel diff {d:.2e})")
    km.cluster_centers_ = centres  # scikit-learn's predict with custseg's model
    sk_pred = km.predict(Xp)
    agree = int(np.sum(sk_pred == labels))
    check(agree == len(labels), f"{name}: custseg_predict equals KMeans.predict on every row ({agree}/{len(labels)})")


def describe_vs_pandas(cur, table, key):
    """custseg_describe against pandas' describe(): numeric count, mean, std, min, quartiles, max;
    categorical count, unique and the top value's frequency."""
    df = fetch_frame(cur, table, key)
    cur.execute("SELECT column_name, kind, count, distinct_count, mean, stddev, min, q1, median, q3, max, top "
                "FROM custseg_describe(%s::regclass)", (f'"{table}"',))
    rows = {r[0]: r for r in cur.fetchall()}
    numeric = df.select_dtypes(include="number")
    d = numeric.describe()
    worst = 0.0
    for c in numeric.columns:
        r = rows[c]
        check(r[1] == "numeric" and r[2] == int(d.loc["count", c]), f"{table}.{c}: numeric, count {r[2]}")
        ours = [r[4], r[5], r[6], r[7], r[8], r[9], r[10]]
        theirs = [d.loc[s_, c] for s_ in ("mean", "std", "min", "25%", "50%", "75%", "max")]
        worst = max(worst, rel_diff(ours, theirs))
    check(worst < 1e-9, f"{table}: describe() mean, std, min, quartiles, max within 1e-9 (max rel diff {worst:.2e})")
    objects = df.select_dtypes(exclude="number")
    if len(objects.columns):
        o = objects.describe()
        ok = all(rows[c][1] == "categorical" and rows[c][2] == int(o.loc["count", c]) and
                 rows[c][3] == int(o.loc["unique", c]) and rows[c][11][0]["count"] == int(o.loc["freq", c])
                 for c in objects.columns)
        check(ok, f"{table}: categorical count, unique and top frequency equal describe() ({len(objects.columns)} columns)")


def evaluate_k_vs_sklearn(cur, table, key, exclude, seed):
    """Every k of custseg_evaluate_k: the metrics equal scikit-learn's on the labels and coordinates of
    the model custseg_fit trains with that k."""
    cur.execute("SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, chosen "
                "FROM custseg_evaluate_k(%s::regclass, 2, 6, exclude => %s, options => %s) ORDER BY k",
                (f'"{table}"', exclude, json.dumps({"seed": seed})))
    worst = 0.0
    for k, inertia, sil, ch, db, chosen in cur.fetchall():
        model_text, m = fit(cur, table, {"k": k, "seed": seed, "exclude": exclude})
        labels = predictions(cur, table, key, model_text)
        cur.execute(f'SELECT custseg_transform(%s::custseg_model, t) FROM "{table}" t ORDER BY "{key}"', (model_text,))
        Xp = np.array([r[0] for r in cur.fetchall()], dtype=float)
        centres = np.array(m["kmeans"]["centroids"])
        index = {s_: i for i, s_ in enumerate(m["kmeans"]["segments"])}
        idx = np.array([index[l] for l in labels])
        worst = max(worst, rel_diff([inertia, sil, ch, db],
                                    [float(np.sum((Xp - centres[idx]) ** 2)), silhouette_score(Xp, idx),
                                     calinski_harabasz_score(Xp, idx), davies_bouldin_score(Xp, idx)]))
    check(worst < 1e-9, f"{table}: custseg_evaluate_k k = 2..6 inertia, silhouette, Calinski-Harabasz, "
                        f"Davies-Bouldin equal scikit-learn's on the same labels (max rel diff {worst:.2e})")


def planted_ari(cur):
    default, notebook = [], []
    for seed in range(1, 11):
        table = f"planted_ari_{seed}"
        load_generated(cur, table, 1500, 3, seed)
        df = fetch_frame(cur, table, "customer_id")
        truth = df["segment"].to_numpy()
        model_text, _ = fit(cur, table, {"k": 3, "exclude": ["customer_id", "segment"], "seed": seed})
        a = adjusted_rand_score(truth, predictions(cur, table, "customer_id", model_text))
        model_text, _ = fit(cur, table, {"k": 3, "exclude": ["customer_id", "segment"], "seed": seed,
                                         "scale_categoricals": True})
        b = adjusted_rand_score(truth, predictions(cur, table, "customer_id", model_text))
        default.append(a)
        notebook.append(b)
        check(a >= 0.95, f"planted seed {seed}: default-mode ARI {a:.4f} >= 0.95 (scale_categoricals: {b:.4f})")
        cur.execute(f'DROP TABLE "{table}"')
    print(f"planted segments, seeds 1..10: mean ARI default {np.mean(default):.4f} (min {np.min(default):.4f}), "
          f"scale_categoricals {np.mean(notebook):.4f} (min {np.min(notebook):.4f})")


def iris_identifier(cur):
    """scikit-learn's iris sorted by class, copied without a primary key: custseg_train leaves the
    id column out (it looks like an identifier), so the segments are those of the four measurements;
    kept as a feature, the id would leak the class order into the segments."""
    from sklearn.datasets import load_iris
    iris = load_iris()
    cur.execute('CREATE TABLE diff_iris (id int, sepal_length float8, sepal_width float8, petal_length float8, '
                'petal_width float8, species text)')
    rows = sorted(zip(iris.data.tolist(), iris.target.tolist()), key=lambda r: r[1])
    for i, (x, y) in enumerate(rows, 1):
        cur.execute("INSERT INTO diff_iris VALUES (%s, %s, %s, %s, %s, %s)", [i] + x + [str(iris.target_names[y])])
    truth = np.array([y for _, y in rows])
    cur.execute("SELECT options -> 'exclude', metrics -> 'excluded', model::text FROM custseg_train("
                "'diff_iris', 'diff_iris', k => 3, exclude => ARRAY['species'], options => '{\"seed\": 1}')")
    excl, why, model_text = cur.fetchone()
    check(sorted(excl) == ["id", "species"] and why.get("id") == "identifier",
          f"iris: the id column is left out as an identifier (exclude {excl})")
    default = adjusted_rand_score(truth, predictions(cur, "diff_iris", "id", model_text))
    text, _ = fit(cur, "diff_iris", {"k": 3, "seed": 1, "exclude": ["id", "species"]})
    without = adjusted_rand_score(truth, predictions(cur, "diff_iris", "id", text))
    cur.execute("SELECT model::text FROM custseg_train('diff_iris', 'diff_iris', k => 3, exclude => ARRAY['species'], "
                "options => '{\"seed\": 1, \"include\": [\"id\"]}', activate => false)")
    leaked = adjusted_rand_score(truth, predictions(cur, "diff_iris", "id", cur.fetchone()[0]))
    check(abs(default - without) < 1e-12,
          f"iris: ARI {default:.2f} as without the id (kept as a feature, the id gives ARI {leaked:.2f})")


def levels_table(cur, table, levels, rows):
    """A table of two numeric columns, a `levels`-level city and a 7-level channel; its rows as a
    DataFrame."""
    width = len(str(levels - 1))
    cur.execute(f'DROP TABLE IF EXISTS "{table}"')
    cur.execute(f"""
        CREATE TABLE {table} AS
        SELECT i AS id, (i % 4) * 3 + sin(i * 0.37) AS x, (i % 4) * -2 + cos(i * 0.73) * 2 AS y,
               'city ' || lpad(((i * 7919) % {levels})::text, {width}, '0') AS city,
               (ARRAY['a', 'b', 'c', 'd', 'e', 'f', 'g'])[1 + ((i / 3) % 7)] AS channel
        FROM generate_series(1, {rows}) i""")
    return fetch_frame(cur, table, "id")


def default_dummies(name, df, m):
    """The notebook's matrix under custseg's default encoding (numeric columns standardized, one-hot
    columns 0/1), its columns checked against the model's."""
    X = pd.get_dummies(df.drop(columns=["id"]), prefix_sep="_")
    check(list(X.columns) == m["columns"], f"{name}: encoded columns match get_dummies ({len(X.columns)})")
    Xv = X.to_numpy(dtype=float)
    Xv[:, :2] = StandardScaler().fit_transform(Xv[:, :2])
    return Xv


def many_levels_without_pca(cur):
    """k-means on the encoded columns themselves (no PCA) of a table with a 60-level and a 7-level
    column, where custseg keeps rows as dense numeric columns plus their active levels: the same
    encoded columns as get_dummies, inertia no worse than scikit-learn's, metrics equal to
    scikit-learn's on custseg's labels, and KMeans.predict with custseg's centroids on every row."""
    name = "60-level column without PCA"
    df = levels_table(cur, "diff_levels", 60, 3000)
    options = {"k": 4, "n_components": None, "exclude": ["id"], "seed": 6, "n_init": 10}
    model_text, m = fit(cur, "diff_levels", options)
    Xv = default_dummies(name, df, m)
    km = KMeans(n_clusters=4, n_init=10, random_state=0).fit(Xv)
    ours = m["training"]["inertia"]
    # Within 1e-4, not 1e-6: in 69 dimensions this table has many local optima within about 1e-5 of
    # each other (scikit-learn's own n_init = 10 runs range over 5e-6 with the random state).
    check(ours <= km.inertia_ * (1 + 1e-4),
          f"{name}: custseg inertia {ours:.10g} <= scikit-learn's {km.inertia_:.10g} (1e-4)")
    labels = predictions(cur, "diff_levels", "id", model_text)
    centres = np.array(m["kmeans"]["centroids"])
    check_stored_metrics(name, Xv, labels, centres, m)
    km.cluster_centers_ = centres
    agree = int(np.sum(km.predict(Xv) == labels))
    check(agree == len(labels), f"{name}: custseg_predict equals KMeans.predict on every row ({agree}/{len(labels)})")
    cur.execute('DROP TABLE "diff_levels"')


def many_levels_with_pca(cur):
    """PCA of a table encoding to 109 columns (a 100-level and a 7-level column), where custseg
    computes only the kept components' eigenvectors (the tridiagonal path, from 64 columns): the
    explained variance and components of scikit-learn's full SVD, and KMeans.predict with custseg's
    centroids on every row (the projection as scikit-learn's PCA.transform)."""
    name = "100-level column with PCA"
    df = levels_table(cur, "diff_levels_pca", 100, 4000)
    options = {"k": 4, "n_components": 3, "exclude": ["id"], "seed": 7, "n_init": 10}
    model_text, m = fit(cur, "diff_levels_pca", options)
    Xv = default_dummies(name, df, m)
    pca, signs = check_pca(name, Xv, m, 3)
    Xp = pca.transform(Xv)
    # No inertia check here: this table's k-means optima lie within 2e-5 of each other, and which one
    # a run finds depends on the random streams (scikit-learn 1.9 finds a lower one than 1.2); the
    # projection is what this test is about.
    km = KMeans(n_clusters=4, n_init=1, random_state=0).fit(Xp)
    labels = predictions(cur, "diff_levels_pca", "id", model_text)
    km.cluster_centers_ = np.array(m["kmeans"]["centroids"]) * signs[None, :]
    agree = int(np.sum(km.predict(Xp) == labels))
    check(agree == len(labels), f"{name}: custseg_predict equals KMeans.predict on every row ({agree}/{len(labels)})")
    cur.execute('DROP TABLE "diff_levels_pca"')


def sampled_silhouette(cur):
    """Above 10,000 clustered rows the silhouette is estimated on a uniform sample that grows from
    2,500 rows until its standard error is at most 0.002: on 20,000 generated customers, custseg's
    stored silhouette is within 0.01 (five times that standard error) of scikit-learn's exact
    silhouette_score on every row, in the k-means space (custseg_transform) with custseg's labels."""
    load_generated(cur, "diff_sampled", 20000, 4, 11)
    for k in (4, 7):
        name = f"20,000 rows, k = {k}"
        model_text, m = fit(cur, "diff_sampled", {"k": k, "exclude": ["customer_id", "segment"], "seed": 3})
        cur.execute('SELECT custseg_transform(%s::custseg_model, t), custseg_predict(%s::custseg_model, t) '
                    'FROM "diff_sampled" t ORDER BY customer_id', (model_text, model_text))
        rows = cur.fetchall()
        X = np.array([r[0] for r in rows])
        labels = np.array([r[1] for r in rows])
        exact = silhouette_score(X, labels)
        ours, used = m["training"]["silhouette"], m["training"]["silhouette_rows"]
        check(used in (2500, 5000, 10000) and abs(ours - exact) <= 0.01,
              f"{name}: sampled silhouette {ours:.4f} on {used:.0f} rows within 0.01 of scikit-learn's exact "
              f"{exact:.4f} on every row")
    cur.execute('DROP TABLE "diff_sampled"')


def main():
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION IF NOT EXISTS custseg")
    load_csv(cur, "diff_mall", os.path.join(SHARED, "mall_customers.csv"),
             [("customer_id", "text"), ("gender", "text"), ("age", "int"), ("annual_income_thousands", "int"),
              ("spending_score", "int")])
    load_csv(cur, "diff_wholesale", os.path.join(SHARED, "wholesale_customers.csv"),
             [("Customer ID", "int"), ("Channel", "int"), ("Region", "int"), ("Fresh", "int"), ("Milk", "int"),
              ("Grocery", "int"), ("Frozen", "int"), ("Detergents_Paper", "int"), ("Delicassen", "int")])
    load_csv(cur, "diff_retail", os.path.join(SHARED, "retail_customers_mixed.csv"),
             [("CustomerID", "int"), ("Gender", "text"), ("Age", "int"), ("Annual Income (k$)", "int"),
              ("Spending Score (1-100)", "int"), ("Marital Status", "text"), ("Employment Status", "text"),
              ("Number of Children", "int"), ("Education Level", "text"), ("Membership Level", "text"),
              ("Years as Customer", "int")])
    load_generated(cur, "diff_planted", 1500, 3, 1)
    differential(cur, "diff_mall", "customer_id", ["customer_id"], [], 1)
    differential(cur, "diff_wholesale", "Customer ID", ["Customer ID"], ["Channel", "Region"], 2)
    differential(cur, "diff_wholesale", "Customer ID", ["Customer ID"], ["Channel", "Region"], 2,
                 {"Fresh": {"clip_quantiles": [0.01, 0.99], "log1p": True}, "Milk": "log1p", "Grocery": "log1p",
                  "Frozen": {"clip_quantiles": [0.05, 0.95]}, "Detergents_Paper": "log1p", "Delicassen": "log1p"})
    differential(cur, "diff_retail", "CustomerID", ["CustomerID"], [], 3)
    differential(cur, "diff_planted", "customer_id", ["customer_id", "segment"], [], 4)
    planted_ari(cur)
    describe_vs_pandas(cur, "diff_mall", "customer_id")
    describe_vs_pandas(cur, "diff_wholesale", "Customer ID")
    describe_vs_pandas(cur, "diff_retail", "CustomerID")
    evaluate_k_vs_sklearn(cur, "diff_mall", "customer_id", ["customer_id"], 3)
    evaluate_k_vs_sklearn(cur, "diff_wholesale", "Customer ID", ["Customer ID"], 4)
    evaluate_k_vs_sklearn(cur, "diff_planted", "customer_id", ["customer_id", "segment"], 5)
    iris_identifier(cur)
    many_levels_without_pca(cur)
    many_levels_with_pca(cur)
    sampled_silhouette(cur)
    for t in ("diff_mall", "diff_wholesale", "diff_retail", "diff_planted", "diff_iris"):
        cur.execute(f'DROP TABLE "{t}"')
    print(f"differential: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
