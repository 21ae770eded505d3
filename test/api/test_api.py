"""custseg's API against a real PostgreSQL with the extension: predictions agree with SQL for every
row of a generated table, one at a time and in batches; validation errors name the field; an unknown
model is a 404; segments, models, evaluate_k and points say what SQL says; gmm's probabilities,
dbscan's noise and the outliers of every method are custseg_score's and custseg_outliers'."""
import json
import math

import pytest

FEATURES = ["age", "annual_income", "spending_score", "visits_per_month", "avg_basket", "tenure_years",
            "region", "channel"]


def customers(db):
    """(customer_id, attributes as JSON, custseg_predict in SQL, custseg_score in SQL) for every row."""
    with db.cursor() as cur:
        cur.execute("""
            SELECT c.customer_id, to_jsonb(c) - 'customer_id' - 'segment', custseg_predict(c, 'customers'),
                   s.label, s.confidence
            FROM customers c, custseg_score(c, 'customers') s ORDER BY c.customer_id""")
        return cur.fetchall()


def offers_of(db, segment):
    with db.cursor() as cur:
        cur.execute("SELECT title FROM custseg_segment_offers WHERE model = 'customers' AND segment = %s "
                    "ORDER BY offer_rank", (segment,))
        return [r[0] for r in cur.fetchall()]


def one(db):
    return customers(db)[0][1]


# ---- predict ----

def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["default_model"] == "customers"


def test_predict_one(client, db):
    cid, attrs, segment, label, confidence = customers(db)[0]
    r = client.post("/predict", json=attrs)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["segment"] == segment
    assert body["label"] == label and label
    assert body["confidence"] == pytest.approx(confidence, abs=1e-12)
    assert 0 <= body["confidence"] <= 1
    assert body["runner_up_distance"] >= body["distance"]
    assert len(body["coordinates"]) == 2
    assert [o["title"] for o in body["offers"]] == offers_of(db, segment)
    assert body["model"] == "customers" and body["version"] == 1


def test_offers_ranked_and_current(client, db):
    """Offers come by priority; a disabled offer never shows; a segment without offers gets []."""
    seen = {}
    for _, attrs, segment, _, _ in customers(db):
        if segment not in seen:
            seen[segment] = client.post("/predict", json=attrs).json()["offers"]
    top = max(seen)
    assert seen[top] == []
    for seg, offers in seen.items():
        if seg != top:
            assert [o["title"] for o in offers] == [f"First offer {seg}", f"Second offer {seg}"]
            assert [o["rank"] for o in offers] == [1, 2]
            assert offers[1]["discount_pct"] == 5.0 and offers[0]["channel"] == "app"
    assert all(o["title"] != "Hidden" for offers in seen.values() for o in offers)


def test_every_row_agrees_with_sql_one_by_one(client, db):
    rows = customers(db)
    assert len(rows) == 1500
    assert any(attrs["annual_income"] is None for _, attrs, *_ in rows), "the generator's NULLs are exercised"
    mismatches = []
    for cid, attrs, segment, _, _ in rows:
        got = client.post("/predict", json=attrs).json()["segment"]
        if got != segment:
            mismatches.append((cid, got, segment))
    assert mismatches == []


def test_every_row_agrees_with_sql_in_batches(client, db):
    rows = customers(db)
    got = []
    for i in range(0, len(rows), 1000):
        r = client.post("/predict/batch", json={"customers": [attrs for _, attrs, *_ in rows[i:i + 1000]]})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 1
        got += [p["segment"] for p in r.json()["results"]]
    assert got == [segment for _, _, segment, _, _ in rows]


def test_batch_matches_single(client, db):
    rows = customers(db)[:25]
    batch = client.post("/predict/batch", json={"customers": [a for _, a, *_ in rows]}).json()["results"]
    singles = [client.post("/predict", json=a).json() for _, a, *_ in rows]
    assert batch == singles


def test_batch_limits(client, db):
    attrs = one(db)
    r = client.post("/predict/batch", json={"customers": [attrs] * 1001})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "customers"]
    assert "at most 1000" in r.json()["detail"][0]["msg"]
    r = client.post("/predict/batch", json={"customers": []})
    assert r.status_code == 200 and r.json()["results"] == []
    assert client.post("/predict/batch", json=[attrs]).status_code == 422  # not wrapped in {"customers": ...}


def test_null_means_unknown_as_in_sql(client, db):
    attrs = dict(one(db), annual_income=None, tenure_years=None, channel=None)
    with db.cursor() as cur:
        cur.execute("SELECT custseg_predict(%s::jsonb, 'customers')", (__import__("json").dumps(attrs),))
        expected = cur.fetchone()[0]
    assert client.post("/predict", json=attrs).json()["segment"] == expected


def test_a_customer_with_no_known_feature_is_a_422(client, db):
    attrs = {k: None for k in one(db)}
    r = client.post("/predict", json=attrs)
    assert r.status_code == 422, r.text
    assert "every feature is null" in r.json()["detail"][0]["msg"]
    with db.cursor() as cur:  # as in SQL, where such a row has no segment
        cur.execute("SELECT custseg_predict(%s::jsonb, 'customers') IS NULL", (__import__("json").dumps(attrs),))
        assert cur.fetchone()[0]


def test_columns_named_like_the_queries_aliases(client, db):
    # x, c and t are the aliases of the API's scoring and sampling queries: whole rows go as x.*, c.*, t.*.
    with db.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS alias_cols (x float8, c float8, t float8, s text)")
        cur.execute("TRUNCATE alias_cols")
        cur.execute("INSERT INTO alias_cols SELECT i % 7, (i * 3) % 11, i % 5, 'l' || (i % 2) FROM generate_series(1, 60) i")
        cur.execute("SELECT custseg_train('alias_cols', 'alias_cols', k => 2, options => '{\"seed\": 1}')")
        cur.execute("""SELECT custseg_predict('{"x": 1, "c": 2, "t": 3, "s": "l1"}'::jsonb, 'alias_cols')""")
        expected = cur.fetchone()[0]
    db.commit()
    r = client.post("/predict?model=alias_cols", json={"x": 1, "c": 2, "t": 3, "s": "l1"})
    assert r.status_code == 200, r.text
    assert r.json()["segment"] == expected
    r = client.get("/segments/points?model=alias_cols&limit=10")
    assert r.status_code == 200, r.text
    assert len(r.json()["points"]) == 10


def test_integers_and_floats_are_both_numbers(client, db):
    attrs = dict(one(db))
    a = client.post("/predict", json=dict(attrs, age=40)).json()
    b = client.post("/predict", json=dict(attrs, age=40.0)).json()
    assert a == b


# ---- validation ----

def detail(r):
    assert r.status_code == 422, r.text
    return {tuple(d["loc"]): d["msg"] for d in r.json()["detail"]}


def test_missing_field_is_named(client, db):
    attrs = one(db)
    del attrs["spending_score"]
    assert detail(client.post("/predict", json=attrs)) == {("body", "spending_score"): "field required"}


def test_wrong_types_are_named(client, db):
    attrs = dict(one(db), age="forty", region=3.5, visits_per_month=True)
    d = detail(client.post("/predict", json=attrs))
    assert d[("body", "age")] == "value is not a number"
    assert d[("body", "visits_per_month")] == "value is not a number"
    assert d[("body", "region")] == "value is not a string"
    assert len(d) == 3


def test_unknown_level_and_extra_field(client, db):
    attrs = dict(one(db), region="nowhere", regoin="north")
    d = detail(client.post("/predict", json=attrs))
    assert "unknown level 'nowhere'" in d[("body", "region")] and "'north'" in d[("body", "region")]
    assert d[("body", "regoin")] == "extra fields not permitted"


def test_non_finite_and_non_object(client, db):
    # A complete customer whose only fault is the number: NaN, and an integer beyond a double.
    base = json.dumps(dict(one(db), age=0))
    for bad in (b"NaN", b"1" + b"0" * 400):
        body = base.replace('"age": 0', '"age": ' + bad.decode()).encode()
        d = detail(client.post("/predict", content=body, headers={"content-type": "application/json"}))
        assert d[("body", "age")] == "value is not a finite number", d
    assert client.post("/predict", json=[1, 2]).status_code == 422
    assert client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_batch_errors_name_the_customer(client, db):
    good = one(db)
    bad = dict(good, age="x")
    d = detail(client.post("/predict/batch", json={"customers": [good, good, bad]}))
    assert d == {("body", "customers", 2, "age"): "value is not a number"}


def test_unknown_model_is_404(client, db):
    assert client.post("/predict?model=nope", json=one(db)).status_code == 404
    assert client.post("/predict/batch?model=nope", json={"customers": [one(db)]}).status_code == 404
    assert client.get("/segments?model=nope").status_code == 404
    assert client.get("/models/nope").status_code == 404
    assert "nope" in client.post("/predict?model=nope", json={}).json()["detail"]


def test_other_model_by_name(client, db):
    with db.cursor() as cur:
        cur.execute("SELECT to_jsonb(c) - 'customer_id', custseg_predict(c, 'narrow') FROM customers_narrow c "
                    "ORDER BY customer_id LIMIT 50")
        rows = cur.fetchall()
    got = client.post("/predict/batch?model=narrow", json={"customers": [a for a, _ in rows]}).json()["results"]
    assert [g["segment"] for g in got] == [s for _, s in rows]
    # The narrow model's validation is its own: a feature of the other model is an extra field.
    d = detail(client.post("/predict?model=narrow", json=dict(rows[0][0], channel="store")))
    assert d == {("body", "channel"): "extra fields not permitted"}


def test_retraining_with_other_features_is_picked_up(client, db):
    """A new version with other features: the next request sees the new version, and validation
    follows the new feature spec right after."""
    old = {"age": 30, "spending_score": 70, "region": "north"}
    first = client.post("/predict?model=narrow", json=old).json()
    db.execute("CREATE VIEW customers_narrow2 AS SELECT customer_id, age, spending_score FROM customers")
    try:
        db.execute("SELECT custseg_train('narrow', 'customers_narrow2', k => 2, exclude => ARRAY['customer_id'], "
                   "options => '{\"seed\": 1}')")
        r = client.post("/predict?model=narrow", json=old)  # validated with the cached spec, scored by the new version
        assert r.status_code == 200 and r.json()["version"] == first["version"] + 1
        d = detail(client.post("/predict?model=narrow", json=old))
        assert d == {("body", "region"): "extra fields not permitted"}
        new = {"age": 30, "spending_score": 70}
        with db.cursor() as cur:
            cur.execute("SELECT custseg_predict('{\"age\": 30, \"spending_score\": 70}'::jsonb, 'narrow')")
            assert client.post("/predict?model=narrow", json=new).json()["segment"] == cur.fetchone()[0]
    finally:
        db.execute("SELECT custseg_activate('narrow', %s)", (first["version"],))
    # Rolled back: a request the restored version accepts is answered at once, not rejected by the cached spec.
    r = client.post("/predict?model=narrow", json=old)
    assert r.status_code == 200 and r.json()["version"] == first["version"]


def test_retraining_with_a_new_feature_revalidates(client, db):
    """A new version that needs a feature the cached spec lacks: custseg's 42703 makes the API reload
    the spec and answer with a 422 naming the new field, not a 500."""
    old = {"age": 30, "spending_score": 70, "region": "north"}
    first = client.post("/predict?model=narrow", json=old).json()
    db.execute("CREATE VIEW customers_wider AS SELECT customer_id, age, spending_score, region, channel FROM customers")
    try:
        db.execute("SELECT custseg_train('narrow', 'customers_wider', k => 2, exclude => ARRAY['customer_id'], "
                   "options => '{\"seed\": 1}')")
        assert detail(client.post("/predict?model=narrow", json=old)) == {("body", "channel"): "field required"}
        r = client.post("/predict?model=narrow", json=dict(old, channel="store"))
        assert r.status_code == 200 and r.json()["version"] > first["version"]
    finally:
        db.execute("SELECT custseg_activate('narrow', %s)", (first["version"],))


# ---- segments, models, docs ----

def test_segments(client, db):
    body = client.get("/segments").json()
    with db.cursor() as cur:
        cur.execute("SELECT segment, label, size FROM custseg_segments WHERE model = 'customers' ORDER BY segment")
        expected = cur.fetchall()
    assert [(s["segment"], s["label"], s["size"]) for s in body["segments"]] == expected
    assert sum(s["size"] for s in body["segments"]) == 1500
    assert abs(sum(s["share"] for s in body["segments"]) - 1) < 1e-9
    numeric = [f["name"] for f in body["features"] if f["kind"] == "numeric"]
    for f in numeric:
        boxes = [p for p in body["profile"] if p["feature"] == f]
        assert [p["segment"] for p in boxes] == [None] + [s["segment"] for s in body["segments"]]
        for p in boxes:
            assert p["min"] <= p["q1"] <= p["median"] <= p["q3"] <= p["max"]
    assert {p["feature"] for p in body["profile"] if p["kind"] == "categorical"} == {"region", "channel"}


def test_evaluate_k_is_sqls(client, db):
    body = client.get("/segments/evaluate_k").json()
    with db.cursor() as cur:
        cur.execute("SELECT k, inertia, silhouette, is_elbow, chosen FROM custseg_evaluate_k('customers', 2, 8, "
                    "exclude => ARRAY['customer_id', 'segment'], options => '{\"seed\": 42}')")
        expected = cur.fetchall()
    got = [(r["k"], r["inertia"], r["silhouette"], r["is_elbow"], r["chosen"]) for r in body["curve"]]
    assert len(got) == len(expected) == 7
    for g, e in zip(got, expected):
        assert g[0] == e[0] and g[3:] == e[3:]
        assert math.isclose(g[1], e[1], rel_tol=1e-9) and math.isclose(g[2], e[2], rel_tol=1e-9)
    assert body["k_trained"] == 3


def test_points(client, db):
    body = client.get("/segments/points?limit=300").json()
    assert body["axes"] == ["PC1", "PC2"] and len(body["points"]) == 300
    assert {p["segment"] for p in body["points"]} <= {0, 1, 2}
    assert client.get("/segments/points?limit=300").json() == body  # the same sample every time
    assert len(client.get("/segments/points").json()["points"]) == 1500  # all rows up to 2000


def test_models(client, db):
    rows = client.get("/models").json()
    mine = [r for r in rows if r["name"] == "customers"]
    assert len(mine) == 1 and mine[0]["active"] and mine[0]["version"] == 1
    assert mine[0]["metrics"]["rows_used"] == 1500 and "silhouette" in mine[0]["metrics"]
    detail_ = client.get("/models/customers").json()
    assert [f["name"] for f in detail_["features"]] == ["age", "annual_income", "spending_score", "visits_per_month",
                                                        "avg_basket", "tenure_years", "region", "channel"]
    age = detail_["features"][0]
    assert age["min"] <= age["median"] <= age["max"]
    assert detail_["features"][-2]["levels"] == ["east", "north", "south", "west"]
    assert detail_["features"][-1]["levels"] == ["mobile", "online", "partner", "store"]
    assert set(detail_["schema"]["required"]) == set(FEATURES)


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    customer = spec["components"]["schemas"]["Customer"]
    assert set(customer["required"]) == set(FEATURES)
    assert customer["properties"]["region"]["enum"] == ["east", "north", "south", "west"]
    assert customer["additionalProperties"] is False
    assert spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"] \
        == "#/components/schemas/Customer"
    assert {"/predict", "/predict/batch", "/segments", "/models", "/healthz"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_page_is_served(client):
    r = client.get("/")
    assert r.status_code == 200 and '<div id="root">' in r.text


def test_database_unreachable_is_503(tmp_path):
    """An API whose database is down answers 503 (and /healthz says so) instead of hanging or a 500."""
    import os
    import subprocess
    import sys
    import time
    from conftest import ROOT, Client, free_port
    port = free_port()
    env = dict(os.environ, CUSTSEG_DATABASE_URL=f"host={tmp_path} port=1 dbname=nothing connect_timeout=1",
               CUSTSEG_POOL_TIMEOUT="1", CUSTSEG_MODEL="customers")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "custseg_api.main:app", "--app-dir", str(ROOT / "api"),
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "critical"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = Client(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                r = c.get("/healthz")
                break
            except OSError:
                time.sleep(0.1)
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        r = c.post("/predict", json={"age": 1})
        assert r.status_code == 503 and "database unavailable" in r.json()["detail"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_database_errors_map_to_statuses():
    """Every database error class gets its documented status (README: the status table): an
    unavailable or contended database is a 503 with Retry-After, a statement timeout a 504, and only
    the rest a 500 — not 503 for every OperationalError as before."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "api"))
    import psycopg
    from psycopg_pool import PoolTimeout
    from custseg_api.main import _db_error
    e = psycopg.errors
    cases = [(PoolTimeout("no connection"), 503), (e.AdminShutdown("x"), 503), (e.CannotConnectNow("x"), 503),
             (e.TooManyConnections("x"), 503), (e.OutOfMemory("x"), 503), (e.LockNotAvailable("x"), 503),
             (e.SerializationFailure("x"), 503), (e.DeadlockDetected("x"), 503), (e.QueryCanceled("x"), 504),
             (e.UndefinedObject("x"), 404), (e.InvalidParameterValue("x"), 422), (e.InternalError_("x"), 500),
             (e.ObjectNotInPrerequisiteState("x"), 500), (e.InsufficientPrivilege("x"), 500)]
    for err, status in cases:
        h = _db_error(err)
        assert h.status_code == status, (type(err).__name__, h.status_code, h.detail)
        if status == 503:
            assert h.headers == {"Retry-After": "1"} and "database unavailable" in h.detail


# ---- methods: gmm and dbscan, outliers and noise ----

def scores(db, model, table="customers_odd"):
    """Every row's attributes and custseg_score in SQL, by customer_id; with the model's segment
    numbers in centroid order (the order of custseg_score's arrays)."""
    with db.cursor() as cur:
        cur.execute(f"""
            SELECT to_jsonb(c) - 'customer_id' - 'segment', s.segment, s.label, s.distance, s.runner_up_distance,
                   s.confidence, s.distances, s.probabilities, s.outlier, s.reason
            FROM {table} c, custseg_score(c, %s) s ORDER BY c.customer_id""", (model,))
        rows = cur.fetchall()
        cur.execute("SELECT custseg_model_json(model) -> 'kmeans' -> 'segments' FROM custseg_models "
                    "WHERE name = %s AND active", (model,))
        return rows, cur.fetchone()[0]


def paired(ids, values, key):
    return None if values is None else sorted(({"segment": s, key: v} for s, v in zip(ids, values)),
                                              key=lambda e: e["segment"])


def odd(db, i):
    """One of conftest.ODD's customers as a request body (it is the last rows of customers_odd)."""
    with db.cursor() as cur:
        cur.execute("SELECT to_jsonb(c) - 'customer_id' - 'segment' FROM customers_odd c WHERE customer_id = %s",
                    (900001 + i,))
        return cur.fetchone()[0]


def assert_agrees(got, row, ids):
    attrs, segment, label, distance, runner_up, confidence, distances, probabilities, outlier, reason = row
    assert got["segment"] == segment and got["label"] == label
    assert got["distance"] == pytest.approx(distance, abs=1e-12)
    assert got["runner_up_distance"] == (None if runner_up is None else pytest.approx(runner_up, abs=1e-12))
    assert got["confidence"] == (None if confidence is None else pytest.approx(confidence, abs=1e-12))
    assert got["distances"] == paired(ids, distances, "distance")
    assert got["probabilities"] == paired(ids, probabilities, "probability")
    assert got["outlier"] is outlier and got["reason"] == reason


@pytest.mark.parametrize("model", ["customers", "customers_gmm", "customers_dbscan"])
def test_every_field_agrees_with_sql(client, db, model):
    """Batches of every row of customers_odd (the odd ones too): segment, label, distances paired with
    segment numbers, probabilities, outlier and reason are custseg_score's."""
    rows, ids = scores(db, model)
    got = []
    for i in range(0, len(rows), 1000):
        r = client.post(f"/predict/batch?model={model}", json={"customers": [row[0] for row in rows[i:i + 1000]]})
        assert r.status_code == 200, r.text
        got += r.json()["results"]
    assert len(got) == len(rows) == 1502
    for g, row in zip(got, rows):
        assert_agrees(g, row, ids)
    one_ = client.post(f"/predict?model={model}", json=rows[-1][0])
    assert one_.status_code == 200 and one_.json() == got[-1]


def test_kmeans_distances_and_outliers(client, db):
    """k-means: a distance per segment, the least one the segment's; no probabilities; every row is
    flagged or not (0.3.0 models carry outlier thresholds), and the far-off customer is an outlier."""
    inlier = next(r[0] for r in scores(db, "customers")[0] if r[8] is False)
    body = client.post("/predict?model=customers", json=inlier).json()
    assert [d["segment"] for d in body["distances"]] == [0, 1, 2]
    nearest = min(body["distances"], key=lambda d: d["distance"])
    assert nearest["segment"] == body["segment"] and nearest["distance"] == pytest.approx(body["distance"])
    assert body["probabilities"] is None and body["outlier"] is False and body["reason"] is None
    far = client.post("/predict?model=customers", json=odd(db, 0)).json()
    assert far["outlier"] is True and far["reason"] and far["segment"] in (0, 1, 2)
    assert far["offers"] == [] or far["offers"][0]["rank"] == 1


def test_gmm_probabilities(client, db):
    rows, ids = scores(db, "customers_gmm")
    body = client.post("/predict?model=customers_gmm", json=rows[0][0]).json()
    probs = body["probabilities"]
    assert [p["segment"] for p in probs] == sorted(ids)
    assert sum(p["probability"] for p in probs) == pytest.approx(1, abs=1e-9)
    best = max(probs, key=lambda p: p["probability"])
    assert best["segment"] == body["segment"] and body["confidence"] == pytest.approx(best["probability"])
    assert len(body["distances"]) == len(ids)
    far = client.post("/predict?model=customers_gmm", json=odd(db, 0)).json()
    assert far["outlier"] is True and far["reason"] and far["segment"] is not None


def test_dbscan_noise_row(client, db):
    """A customer no cluster claims: 200 with segment, label, confidence and runner-up null, no
    offers, outlier true and the reason; no distances or probabilities (dbscan has neither)."""
    noise = client.post("/predict?model=customers_dbscan", json=odd(db, 0))
    assert noise.status_code == 200, noise.text
    n = noise.json()
    assert n["segment"] is None and n["label"] is None and n["confidence"] is None
    assert n["runner_up_distance"] is None and n["offers"] == []
    assert n["distances"] is None and n["probabilities"] is None
    assert n["outlier"] is True and "noise" in n["reason"]
    assert n["distance"] > 0 and len(n["coordinates"]) == 2
    assert n["model"] == "customers_dbscan" and n["version"] == 1
    # Beside a clustered customer in a batch, which has its segment's offer.
    clustered = next(r for r in scores(db, "customers_dbscan")[0] if r[1] is not None)
    batch = client.post("/predict/batch?model=customers_dbscan", json={"customers": [odd(db, 0), clustered[0]]})
    assert batch.status_code == 200, batch.text
    first, second = batch.json()["results"]
    assert first == n
    assert second["segment"] == clustered[1] and second["outlier"] is False and second["reason"] is None
    assert [o["title"] for o in second["offers"]] == [f"Cluster offer {clustered[1]}"]


@pytest.mark.parametrize("model,method", [("customers", "kmeans"), ("customers_gmm", "gmm"),
                                          ("customers_dbscan", "dbscan")])
def test_segments_count_outliers(client, db, model, method):
    """Per segment, the source's outliers (custseg_outliers); for dbscan the noise; the method."""
    body = client.get(f"/segments?model={model}").json()
    table = "customers" if model == "customers" else "customers_odd"
    with db.cursor() as cur:
        cur.execute("SELECT segment, count(*) FROM custseg_outliers(%s::regclass, %s) GROUP BY segment",
                    (table, model))
        expected = dict(cur.fetchall())
    assert body["method"] == method
    assert {s["segment"]: s["outliers"] for s in body["segments"]} == \
        {s["segment"]: expected.get(s["segment"], 0) for s in body["segments"]}
    if method == "dbscan":
        assert body["noise"] == expected[None] >= 1  # customers_odd's far-off customer at least
        assert all(s["outliers"] == 0 for s in body["segments"])  # a dbscan outlier is noise
    else:
        assert body["noise"] is None and None not in expected
        assert sum(s["outliers"] for s in body["segments"]) > 0  # the 1% beyond the 0.99 quantile
    if model == "customers_gmm":
        assert body["segments"][0]["outliers"] is not None
        far = client.post(f"/predict?model={model}", json=odd(db, 0)).json()
        assert far["outlier"] and any(s["segment"] == far["segment"] and s["outliers"] >= 1 for s in body["segments"])
    assert client.get(f"/models/{model}").json()["method"] == method


def test_openapi_describes_the_new_fields(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    props = schemas["Prediction"]["properties"]
    for name in ("probabilities", "distances", "outlier", "reason", "segment", "confidence"):
        assert props[name].get("description"), name
    assert "segment order" in props["probabilities"]["description"]
    assert props["probabilities"]["items"]["$ref"] == "#/components/schemas/SegmentProbability"
    assert props["distances"]["items"]["$ref"] == "#/components/schemas/SegmentDistance"
    assert set(schemas["SegmentProbability"]["required"]) == {"segment", "probability"}
    assert props["outlier"]["type"] == "boolean" and props["reason"]["type"] == "string"
    assert "noise" in props["segment"]["description"]


def test_distances_follow_renumbered_segments(client, db):
    """A retrained model keeps its segments' numbers, so its centroids are in another order than the
    numbers: distances pair by the model's numbers, also for the first request after the retraining
    (scored by the new version while the cached spec is the old one's)."""
    attrs = one(db)
    train = ("SELECT custseg_train('renum', 'customers', k => 3, exclude => ARRAY['customer_id', 'segment'], "
             "options => jsonb_build_object('seed', %s::int))")
    db.execute(train, (1,))
    for seed in range(2, 10):
        before = client.post("/predict?model=renum", json=attrs).json()  # caches this version's spec
        db.execute(train, (seed,))
        rows, ids = scores(db, "renum", "customers")
        if ids != sorted(ids):
            break
    assert ids != sorted(ids), "no retraining put the centroids out of the numbers' order"
    row = next(r for r in rows if r[0] == attrs)
    stale = client.post("/predict?model=renum", json=attrs).json()
    assert stale["version"] == before["version"] + 1
    assert_agrees(stale, row, ids)
    assert client.post("/predict?model=renum", json=attrs).json() == stale  # with the new version's spec
