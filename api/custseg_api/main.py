"""custseg's real-time API and web page: FastAPI over a psycopg connection pool.

The database does the work: a prediction is one SQL statement that turns the request's JSON into a
row (`jsonb_to_recordset` typed by the model's feature spec), scores it with `custseg_score` and
joins the segment's current offers from `custseg_segment_offers`. The endpoints, SQL and dashboards
therefore always agree. Started with

    python3 -m uvicorn custseg_api.main:app --app-dir api

Environment: CUSTSEG_DATABASE_URL (libpq URL or conninfo; empty = the PG* variables), CUSTSEG_MODEL
(the default model name, "mall"), CUSTSEG_POOL_MIN / CUSTSEG_POOL_MAX (pool size, 2 / 8),
CUSTSEG_POOL_TIMEOUT (seconds to wait for a connection before a 503, 10),
CUSTSEG_BATCH_LIMIT (customers per batch call, 1000), CUSTSEG_SPEC_TTL (seconds a model's feature
spec is cached, 5), CUSTSEG_WEB_DIST (the built page, web/dist).
"""
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

import psycopg
from fastapi import Body, FastAPI, HTTPException, Query
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, Field

from .spec import ModelSpec, build_spec

DATABASE_URL = os.environ.get("CUSTSEG_DATABASE_URL", "")
DEFAULT_MODEL = os.environ.get("CUSTSEG_MODEL", "mall")
POOL_MIN = int(os.environ.get("CUSTSEG_POOL_MIN", "2"))
POOL_MAX = int(os.environ.get("CUSTSEG_POOL_MAX", "8"))
POOL_TIMEOUT = float(os.environ.get("CUSTSEG_POOL_TIMEOUT", "10"))
BATCH_LIMIT = int(os.environ.get("CUSTSEG_BATCH_LIMIT", "1000"))
SPEC_TTL = float(os.environ.get("CUSTSEG_SPEC_TTL", "5"))
WEB_DIST = Path(os.environ.get("CUSTSEG_WEB_DIST", Path(__file__).resolve().parents[2] / "web" / "dist"))
POINTS_LIMIT = 2000
# Options a stored model carries that custseg_evaluate_k accepts (it takes the k range instead of k).
EVALUATE_OPTIONS = ("n_components", "exclude", "categorical", "numeric", "seed", "n_init", "max_iter", "tol",
                    "sample_size", "dedupe", "scale_categoricals")
ORDINAL = "custseg_api_ordinal"


# ---- Response shapes (they document the API in /docs) ----

class Offer(BaseModel):
    offer_id: int
    title: str
    details: Optional[str]
    discount_pct: Optional[float]
    channel: Optional[str]
    rank: int = Field(..., description="1, 2, ... by priority within the segment")
    valid_until: Optional[str]


class SegmentDistance(BaseModel):
    segment: int = Field(..., description="a segment number")
    distance: float = Field(..., description="the customer's distance to that segment's centroid")


class SegmentProbability(BaseModel):
    segment: int = Field(..., description="a segment number")
    probability: float = Field(..., description="the gmm posterior probability that the customer belongs to it")


class Prediction(BaseModel):
    segment: Optional[int] = Field(
        ..., nullable=True, description="the number custseg_predict returns; null for dbscan noise (a customer no "
                                        "cluster claims: see reason)")
    label: Optional[str] = Field(None, nullable=True, description="the segment's label in custseg_segments (null for noise)")
    confidence: Optional[float] = Field(
        ..., nullable=True, description="in [0, 1]: 1 - distance / runner_up_distance (k-means, hierarchical; 1 without "
                                        "a runner-up: k = 1, dbscan), the segment's posterior probability (gmm); null "
                                        "for dbscan noise")
    distance: float = Field(..., description="distance to the segment's centroid in the k-means space (dbscan: to the "
                                             "nearest core customer, also for noise)")
    runner_up_distance: Optional[float] = Field(
        None, nullable=True, description="distance to the second-nearest centroid (null without one: k = 1, dbscan)")
    coordinates: List[float] = Field(..., description="the customer in the k-means space (principal components)")
    distances: Optional[List[SegmentDistance]] = Field(
        None, nullable=True, description="the distance to every segment's centroid, one entry per segment in segment "
                                         "order; null for dbscan, whose segments are not judged by their centroids")
    probabilities: Optional[List[SegmentProbability]] = Field(
        None, nullable=True, description="gmm only: the posterior probability of every segment, one entry per segment "
                                         "in segment order (they add up to 1); null for the other methods")
    outlier: Optional[bool] = Field(
        None, nullable=True, description="true when the customer lies beyond its segment's outlier threshold (set at "
                                         "the outlier_quantile of the training rows: their distance to the centroid, "
                                         "for gmm their log-likelihood), and for dbscan noise; null for a model "
                                         "trained before custseg 0.3.0")
    reason: Optional[str] = Field(None, nullable=True,
                                  description="why the customer is noise or an outlier, in words; else null")
    offers: List[Offer] = Field(..., description="the segment's current offers, by rank ([] for noise)")
    model: str
    version: int


class BatchPrediction(BaseModel):
    model: str
    version: int
    results: List[Prediction] = Field(..., description="one per customer, in the request's order")


app = FastAPI(
    docs_url=None,  # served below, with Swagger UI's files from web/dist when built (works offline)
    redoc_url=None,
    title="custseg API",
    version="0.3.0",
    description=(
        "Customer segments and offers in real time, computed by the custseg PostgreSQL extension. "
        "`POST /predict` takes one customer's attributes (the features of the model, see its schema below: "
        "generated from the default model's feature spec) and returns the segment, its label, a confidence, "
        "whether the customer is an outlier (and why), the segment's current offers and, for gmm models, the "
        "probability of every segment."),
)
pool: Optional[AsyncConnectionPool] = None
_specs: Dict[str, Tuple[float, ModelSpec]] = {}
_cache: Dict[Tuple, Any] = {}
_locks: Dict[Tuple, asyncio.Lock] = {}


@app.on_event("startup")
async def _startup():
    global pool
    pool = AsyncConnectionPool(DATABASE_URL, min_size=POOL_MIN, max_size=POOL_MAX, open=False, timeout=POOL_TIMEOUT,
                               kwargs={"autocommit": True, "application_name": "custseg_api"})
    await pool.open()
    try:
        await get_spec(DEFAULT_MODEL)
    except Exception:  # the default model may be trained later; /healthz and /models still work
        pass


@app.on_event("shutdown")
async def _shutdown():
    if pool is not None:
        await pool.close()


# SQLSTATEs after which the same read-only statement may simply run again on another connection:
# the server went away or is restarting (connection exceptions, admin or crash shutdown, cannot
# connect now) or rolled the statement back (serialization failure, deadlock).
RETRY_STATES = ("57P01", "57P02", "57P03", "40001", "40P01")
_pool_check: Optional[asyncio.Task] = None


def _lost(conn, e: psycopg.Error) -> bool:
    """The connection is gone (server restarted, backend terminated): not the statement's fault."""
    state = e.sqlstate or ""
    return conn.broken or conn.closed or state.startswith("08") or state in RETRY_STATES[:3]


async def _check_pool():
    """A lost connection means its siblings idle in the pool probably died with the same server:
    the pool tests them (SELECT 1) and replaces the dead ones, one check at a time however many
    requests noticed; the request that noticed waits for it (at most CUSTSEG_POOL_TIMEOUT), so that
    its second try gets a live connection rather than the next dead one."""
    global _pool_check
    if pool is None:
        return
    if _pool_check is None or _pool_check.done():
        _pool_check = asyncio.create_task(pool.check())
    try:
        await asyncio.wait_for(asyncio.shield(_pool_check), POOL_TIMEOUT)
    except Exception:  # a failed or slow check: the retry's own wait for a connection decides
        pass


async def with_connection(work):
    """Runs `await work(conn)` on a pooled connection. The API only reads, so a statement whose
    connection was lost or that the server rolled back (RETRY_STATES) is run once more, on another
    connection; errors then go through _db_error."""
    for attempt in (0, 1):
        lost = False
        try:
            async with pool.connection() as conn:
                try:
                    return await work(conn)
                except psycopg.Error as e:
                    lost = _lost(conn, e)
                    if attempt == 1 or not (lost or e.sqlstate in RETRY_STATES):
                        raise
        except HTTPException:
            raise
        except psycopg.Error as e:
            raise _db_error(e) from e
        if lost:  # after the broken connection went back to the pool (which discards it)
            await _check_pool()


def _unavailable(detail: str, retry_after: int = 1) -> HTTPException:
    return HTTPException(503, detail, headers={"Retry-After": str(retry_after)})


def _db_error(e: psycopg.Error) -> HTTPException:
    """A database error as the API's answer (README: "Errors and availability")."""
    state = getattr(e, "sqlstate", None) or ""
    msg = (e.diag.message_primary if getattr(e, "diag", None) else None) or str(e)
    if isinstance(e, PoolTimeout):
        return _unavailable(f"database unavailable: no connection within {POOL_TIMEOUT:g} s ({e})")
    if state == "57014":  # statement_timeout or a cancel: the database did not answer in time
        return HTTPException(504, f"database timeout: {msg}")
    if (not state or state.startswith("08") or state.startswith("53") or state in RETRY_STATES
            or state == "55P03"):
        # Down, restarting, out of connections or memory, or contended: worth trying again shortly.
        return _unavailable(f"database unavailable: {msg}")
    if state == "42704":
        return HTTPException(404, msg)
    if state.startswith("22"):
        return HTTPException(422, msg)
    return HTTPException(500, f"{msg} (SQLSTATE {state})")


async def fetch(query, params=None) -> List[Dict[str, Any]]:
    async def work(conn):
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()
    return await with_connection(work)


# ---- Model specs ----

SPEC_QUERY = """
SELECT m.version, m.source, m.options, j.j -> 'features' AS features,
       j.j -> 'kmeans' IS NOT NULL AND j.j -> 'kmeans' <> 'null' AS has_kmeans,
       coalesce(j.j -> 'method' ->> 'name', 'kmeans') AS method,  -- a format-1 model has no "method": k-means
       j.j -> 'kmeans' -> 'segments' AS segment_ids,
       j.j -> 'method' ->> 'name' = 'dbscan' OR j.j -> 'method' ? 'outlier_thresholds' AS flags_outliers
FROM custseg_models m, LATERAL (SELECT custseg_model_json(m.model) AS j OFFSET 0) j  -- OFFSET 0: one call, not one per use
WHERE m.name = %s AND m.active
"""


async def get_spec(name: str, refresh: bool = False) -> ModelSpec:
    """The active version's spec, cached for SPEC_TTL seconds; 404 for an unknown model."""
    now = time.monotonic()
    hit = _specs.get(name)
    if hit and not refresh and now - hit[0] < SPEC_TTL:
        return hit[1]
    rows = await fetch(SPEC_QUERY, (name,))
    if not rows:
        _specs.pop(name, None)
        raise HTTPException(404, f"model {name!r} does not exist or has no active version")
    r = rows[0]
    if not r["has_kmeans"]:
        raise HTTPException(409, f"model {name!r} has no k-means stage: it cannot predict segments")
    if hit and hit[1].version == r["version"]:
        spec = hit[1]
    else:
        spec = build_spec(name, r["version"], r["source"], r["options"], r["features"], method=r["method"],
                          segment_ids=r["segment_ids"], flags_outliers=bool(r["flags_outliers"]))
        if name == DEFAULT_MODEL:
            app.openapi_schema = None  # regenerate /docs with the new feature spec
    _specs[name] = (now, spec)
    return spec


def score_query(spec: ModelSpec) -> sql.Composed:
    """One statement: JSON rows -> typed rows -> custseg_score -> offers, in the request's order.

    The active version's model value, its labels and its offers are all read under the statement's
    snapshot, so the version an answer names is the one that scored it, even while a retraining
    commits (custseg_score by name would use the latest committed version instead).

    custseg_score's distances and probabilities are arrays in centroid order; the answer pairs them
    with segment numbers. Those are the spec's (score_params) when the active version is the spec's,
    else read from that version's model in the same statement (only while a new version is not yet
    in the spec cache: reading the model's JSON costs more than the rest of a prediction).

    The database also writes the response's JSON (`jsonb` prints a float8 in its shortest exact
    form), so the API passes the text through instead of decoding and re-encoding it."""
    coldefs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f["name"]), sql.SQL("float8" if f["kind"] == "numeric" else "text"))
        for f in spec.features)
    names = sql.SQL(", ").join(sql.Identifier(n) for n in spec.feature_names)
    ordinal = sql.Identifier(ORDINAL if ORDINAL not in spec.feature_names else ORDINAL + "_")
    return sql.SQL("""
WITH v AS (SELECT m.version, m.model,
                  CASE WHEN m.version = %(version)s THEN %(segment_ids)s::int4[]
                       ELSE ARRAY(SELECT jsonb_array_elements_text(custseg_model_json(m.model) -> 'kmeans' -> 'segments')::int4)
                  END AS ids
           FROM custseg_models m WHERE m.name = %(name)s AND m.active),
     r AS (SELECT x.{ordinal} AS ordinal, v.ids AS seg_ids, s.*,
                  (SELECT cs.label FROM custseg_segments cs WHERE cs.model = %(name)s AND cs.segment = s.segment) AS seg_label
           FROM v, ROWS FROM (jsonb_to_recordset(%(rows)s) AS ({coldefs})) WITH ORDINALITY AS x({names}, {ordinal}),
                custseg_score(v.model, x.*) s)  -- x.*, not x: a feature named x would take the row's place
SELECT (SELECT version FROM v) AS version,
       coalesce(jsonb_agg(jsonb_build_object(
           'segment', r.segment, 'label', r.seg_label, 'confidence', r.confidence, 'distance', r.distance,
           'runner_up_distance', r.runner_up_distance, 'coordinates', r.coordinates,
           'distances', CASE WHEN r.distances IS NOT NULL THEN
                            (SELECT jsonb_agg(jsonb_build_object('segment', d.segment, 'distance', d.distance) ORDER BY d.segment)
                             FROM unnest(r.seg_ids, r.distances) AS d(segment, distance)) END,
           'probabilities', CASE WHEN r.probabilities IS NOT NULL THEN
                                (SELECT jsonb_agg(jsonb_build_object('segment', p.segment, 'probability', p.probability) ORDER BY p.segment)
                                 FROM unnest(r.seg_ids, r.probabilities) AS p(segment, probability)) END,
           'outlier', r.outlier, 'reason', r.reason,
           'offers', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                   'offer_id', o.offer_id, 'title', o.title, 'details', o.details,
                                   'discount_pct', o.discount_pct, 'channel', o.channel, 'rank', o.offer_rank,
                                   'valid_until', o.valid_until) ORDER BY o.offer_rank)
                               FROM custseg_segment_offers o WHERE o.model = %(name)s AND o.segment = r.segment), '[]'),
           'model', %(name)s::text, 'version', (SELECT version FROM v)) ORDER BY r.ordinal), '[]')::text AS results
FROM r""").format(coldefs=coldefs, names=names, ordinal=ordinal)


def score_params(spec: ModelSpec, name: str, rows: List[Any]) -> Dict[str, Any]:
    """score_query's parameters: the model, the rows, and the version whose segment numbers the spec holds."""
    return {"name": name, "rows": Jsonb(rows), "version": spec.version, "segment_ids": spec.segment_ids_literal}


async def score(name: str, customers: List[Any], loc: Tuple) -> Tuple[int, str]:
    """Validates and scores customers with the active version of `name`: (version, JSON array text of
    the predictions in order). A 422 names every bad field."""
    refreshed = False
    while True:
        spec = await get_spec(name, refresh=refreshed)
        rows, errors = [], []
        for i, c in enumerate(customers):
            values, errs = spec.validate(c, loc if len(loc) == 1 else loc + (i,))
            rows.append(values)
            errors += errs
        if errors:
            # A cached spec may be older than the active version (retrained or rolled back within
            # CUSTSEG_SPEC_TTL): reject only against the current one. Costs a query on bad requests only.
            if not refreshed:
                refreshed = True
                if (await get_spec(name, refresh=True)).version != spec.version:
                    continue
            raise HTTPException(422, errors)
        async def work(conn):
            if spec.query is None:  # composed once per model version: identifiers quoted by the connection
                spec.query = score_query(spec).as_string(conn)
            cur = await conn.execute(spec.query, score_params(spec, name, rows))
            return await cur.fetchone()
        try:
            version, results = await with_connection(work)
            if version is None:  # no active version (dropped meanwhile): the spec lookup says 404
                if refreshed:
                    raise HTTPException(404, f"model {name!r} does not exist or has no active version")
                refreshed = True
                continue
        except HTTPException as h:
            e = h.__cause__
            if isinstance(e, psycopg.errors.UndefinedColumn) and not refreshed:
                # Retrained meanwhile with a feature the spec lacks: refresh the spec once and validate again.
                refreshed = True
                continue
            # Any other error may come from a spec older than the active version (a feature that
            # changed kind): if the version changed, validate again against the current one.
            if (isinstance(e, psycopg.Error) and h.status_code not in (503, 504) and not refreshed
                    and not isinstance(e, psycopg.errors.UndefinedColumn)):
                refreshed = True
                if (await get_spec(name, refresh=True)).version != spec.version:
                    continue
            raise
        if version != spec.version:
            _specs.pop(name, None)  # the next request sees the new version's spec
        return version, results


def json_response(text: str) -> Response:
    return Response(content=text, media_type="application/json")


# ---- Endpoints ----

@app.post("/predict", response_model=Prediction, tags=["predict"],
          responses={404: {"description": "unknown model"}, 422: {"description": "a field is missing, unknown or of the wrong type"}})
async def predict(customer: Dict[str, Any] = Body(..., example={"gender": "Female", "age": 31,
                                                               "annual_income_thousands": 88, "spending_score": 91}),
                  model: Optional[str] = Query(None, description="model name (default: CUSTSEG_MODEL)")):
    """One customer's segment, label, confidence and offers, computed by one SQL call to custseg."""
    name = model or DEFAULT_MODEL
    _, results = await score(name, [customer], ("body",))
    return json_response(results[1:-1])  # the array's one element


class PredictFastPath:
    """POST /predict without the framework's per-request layers. Measured with cProfile at
    concurrency 8, most of a prediction's CPU in this process went to routing, dependency solving
    and the body's model, not to the validation and the statement that make the answer: here the
    request takes the same validation (spec.validate), the same statement (score) and gives the
    same answers and errors (HTTPException as FastAPI renders it). Anything else (another content
    type, a body that is not a JSON object) goes to the endpoint above with the body replayed, so
    FastAPI answers it exactly as before."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        customer = None
        ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").split(b";")[0].strip().lower()
        if ctype == b"application/json":
            try:
                customer = json.loads(body)
            except ValueError:
                pass
        if not isinstance(customer, dict):
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await self.app(scope, replay, send)
        name = None
        if scope.get("query_string"):
            for k, v in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
                if k == "model":
                    name = v  # the last one wins, as for FastAPI's Query
        try:
            _, results = await score(name or DEFAULT_MODEL, [customer], ("body",))
        except HTTPException as e:
            return await JSONResponse({"detail": e.detail}, status_code=e.status_code,
                                      headers=getattr(e, "headers", None))(scope, receive, send)
        out = results[1:-1].encode()  # the array's one element
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
        await send({"type": "http.response.body", "body": out})


app.add_middleware(PredictFastPath)


class BatchRequest(BaseModel):
    customers: List[Dict[str, Any]] = Field(..., description=f"at most {BATCH_LIMIT} customers, each as for /predict")


@app.post("/predict/batch", response_model=BatchPrediction, tags=["predict"],
          description=f"Up to {BATCH_LIMIT} customers in one call (one SQL statement); results in the request's order.",
          responses={404: {"description": "unknown model"}, 422: {"description": "a customer's field is bad, or too many customers"}})
async def predict_batch(request: BatchRequest, model: Optional[str] = Query(None, description="model name")):
    name = model or DEFAULT_MODEL
    if len(request.customers) > BATCH_LIMIT:
        raise HTTPException(422, [{"loc": ["body", "customers"], "type": "value_error.list.max_items",
                                   "msg": f"at most {BATCH_LIMIT} customers per call (got {len(request.customers)})"}])
    if not request.customers:
        return {"model": name, "version": (await get_spec(name)).version, "results": []}
    version, results = await score(name, request.customers, ("body", "customers"))
    return json_response(f'{{"model": {json.dumps(name)}, "version": {version}, "results": {results}}}')


async def cached(key: Tuple, compute):
    """Per-version cache for the expensive analyst views: key = (view, model, version, ...); storing
    a version's entry drops that view's entries for the model's other versions."""
    if key in _cache:
        return _cache[key]
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        if key not in _cache:
            value = await compute()
            for old in [k for k in _cache if k[:2] == key[:2] and k[2] != key[2]]:
                del _cache[old]
                _locks.pop(old, None)
            _cache[key] = value
    return _cache[key]


PROFILE_FLOATS = ("mean", "stddev", "min", "q1", "median", "q3", "max")


@app.get("/segments", tags=["segments"])
async def segments(model: Optional[str] = Query(None, description="model name")):
    """The segments of the active version: label, size, share, profile, offers, how many of the source's
    customers are outliers, and box-plot numbers per feature; the model's clustering method and, for
    dbscan, how many customers are noise (in no segment)."""
    name = model or DEFAULT_MODEL
    spec = await get_spec(name)
    segs = await fetch("""
        SELECT s.segment, s.label, s.description, s.size, s.share, s.profile, s.version, s.label_generated,
               coalesce((SELECT jsonb_agg(jsonb_build_object('offer_id', o.offer_id, 'title', o.title,
                             'details', o.details, 'discount_pct', o.discount_pct, 'channel', o.channel,
                             'rank', o.offer_rank) ORDER BY o.offer_rank)
                         FROM custseg_segment_offers o WHERE o.model = s.model AND o.segment = s.segment), '[]') AS offers
        FROM custseg_segments s WHERE s.model = %s ORDER BY s.segment""", (name,))

    async def profile():
        # Both are a scan of the source under the active version, so they are one statement, cached
        # per version: the box plots (custseg_profile) and the outliers per segment (custseg_outliers,
        # whose rows without a segment are dbscan's noise). A model that flags no outliers (trained
        # before 0.3.0) is not scanned for them.
        row = (await fetch("""
            SELECT (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'segment', p.segment, 'feature', p.feature, 'kind', p.kind, 'n', p.n, 'mean', p.mean,
                               'stddev', p.stddev, 'min', p.min, 'q1', p.q1, 'median', p.median, 'q3', p.q3,
                               'max', p.max, 'shares', p.shares) ORDER BY p.feature, p.segment NULLS FIRST), '[]')
                    FROM custseg_profile(%(name)s) p) AS profile,
                   CASE WHEN %(flags)s THEN
                       (SELECT coalesce(jsonb_agg(jsonb_build_object('segment', o.segment, 'customers', o.n)), '[]')
                        FROM (SELECT segment, count(*) AS n FROM custseg_outliers(%(source)s::regclass, %(name)s)
                              GROUP BY segment) o) END AS outliers""",
                           {"name": name, "source": spec.source, "flags": spec.flags_outliers}))[0]
        for r in row["profile"]:  # jsonb has one kind of number: the profile's are float8
            for k in PROFILE_FLOATS:
                if r[k] is not None:
                    r[k] = float(r[k])
        counts = None if row["outliers"] is None else {o["segment"]: o["customers"] for o in row["outliers"]}
        return row["profile"], counts

    boxes, counts = await cached(("profile", name, spec.version), profile)
    for s in segs:
        s["outliers"] = None if counts is None else counts.get(s["segment"], 0)
    noise = counts.get(None, 0) if counts is not None and spec.method == "dbscan" else None
    return {"model": name, "version": spec.version, "method": spec.method, "source": spec.source,
            "features": spec.features, "segments": segs, "noise": noise, "profile": boxes}


@app.get("/segments/evaluate_k", tags=["segments"])
async def evaluate_k(model: Optional[str] = Query(None, description="model name"),
                     k_max: int = Query(8, ge=3, le=20, description="largest k to evaluate")):
    """Elbow and silhouette curves: custseg_evaluate_k over k = 2..k_max with the model's options (cached per version)."""
    name = model or DEFAULT_MODEL
    spec = await get_spec(name)
    opts = {k: v for k, v in spec.options.items() if k in EVALUATE_OPTIONS}

    async def compute():
        return await fetch("SELECT k, inertia, silhouette, calinski_harabasz, davies_bouldin, is_elbow, chosen, "
                           "silhouette_rows, rows_clustered FROM custseg_evaluate_k(%s::regclass, 2, %s, "
                           "n_components => NULL, exclude => NULL, options => %s)",
                           (spec.source, k_max, Jsonb(opts)))

    rows = await cached(("evaluate_k", name, spec.version, k_max), compute)
    return {"model": name, "version": spec.version, "k_trained": spec.options.get("k"), "curve": rows}


@app.get("/segments/points", tags=["segments"])
async def points(model: Optional[str] = Query(None, description="model name"),
                 limit: int = Query(POINTS_LIMIT, ge=1, le=POINTS_LIMIT, description="rows to sample")):
    """A sample of the source rows (in a fixed hash order, so the same each time) in the k-means space, with segments."""
    name = model or DEFAULT_MODEL
    spec = await get_spec(name)

    async def compute():
        # The registry's source text goes through regclass, so only a real relation's quoted name is spliced.
        src = (await fetch("SELECT %s::regclass::text AS src", (spec.source,)))[0]["src"]
        # The sample is drawn first, then only the sampled rows are scored.
        q = sql.SQL("""
            SELECT s.segment, s.coordinates[1] AS x, s.coordinates[2] AS y
            FROM (SELECT * FROM {src} t ORDER BY md5((t.*)::text) LIMIT %s) c, custseg_score(c.*, %s) s
            WHERE s.segment IS NOT NULL  -- a row with no feature has no segment and no point""").format(
            src=sql.SQL(src))
        return await fetch(q, (POINTS_LIMIT, name))

    # One sample per model version, whatever the limit asked: a smaller limit is its prefix (the
    # order is fixed), so clients cannot make the source be scanned and sorted once per limit.
    rows = (await cached(("points", name, spec.version), compute))[:limit]
    pca = spec.options.get("n_components") is not None
    return {"model": name, "version": spec.version,
            "axes": ["PC1", "PC2"] if pca else ["scaled feature 1", "scaled feature 2"], "points": rows}


@app.get("/models", tags=["models"])
async def models():
    """Every stored version: name, version, created_at, source, options, metrics, active."""
    return await fetch("SELECT name, version, created_at, source, options, metrics, active "
                       "FROM custseg_models ORDER BY name, version")


@app.get("/models/{name}", tags=["models"])
async def model_detail(name: str):
    """The active version of a model with its features: kinds, levels, and training ranges for forms."""
    spec = await get_spec(name)
    seg = await segments(name)  # the profile is a scan of the source: reuse /segments' per-version cache
    overall = {r["feature"]: r for r in seg["profile"] if r["segment"] is None}
    features = []
    for f in spec.features:
        o = overall.get(f["name"], {})
        item = dict(f)
        if f["kind"] == "numeric":
            item.update({k: o.get(k) for k in ("min", "q1", "median", "q3", "max", "mean")})
        else:
            item["shares"] = o.get("shares")
        features.append(item)
    return {"name": name, "version": spec.version, "method": spec.method, "source": spec.source,
            "options": spec.options, "features": features, "schema": spec.request_model.schema(by_alias=True)}


@app.get("/healthz", tags=["health"])
async def healthz():
    """200 when the database answers and the extension is installed; 503 otherwise."""
    async def work(conn):
        cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'custseg'")
        return await cur.fetchone()
    try:
        row = await with_connection(work)
    except HTTPException as e:
        return JSONResponse({"status": "unavailable", "error": str(e.detail)}, status_code=503,
                            headers={"Retry-After": "1"})
    if row is None:
        return JSONResponse({"status": "unavailable", "error": "extension custseg is not installed"}, status_code=503)
    return {"status": "ok", "custseg": row[0], "default_model": DEFAULT_MODEL}


def custom_openapi():
    """OpenAPI with /predict's request body described by the default model's generated schema."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    hit = _specs.get(DEFAULT_MODEL)
    if hit:
        customer = hit[1].request_model.schema(by_alias=True)
        customer["title"] = "Customer"
        schema.setdefault("components", {}).setdefault("schemas", {})["Customer"] = customer
        ref = {"$ref": "#/components/schemas/Customer"}
        body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        body["schema"] = ref
        batch = schema["components"]["schemas"].get("BatchRequest")
        if batch:
            batch["properties"]["customers"]["items"] = ref
            batch["properties"]["customers"]["maxItems"] = BATCH_LIMIT
    app.openapi_schema = schema
    return schema


app.openapi = custom_openapi


@app.get("/docs", include_in_schema=False)
async def docs():
    local = (WEB_DIST / "assets" / "swagger-ui-bundle.js").exists()
    extra = {"swagger_js_url": "/assets/swagger-ui-bundle.js", "swagger_css_url": "/assets/swagger-ui.css",
             "swagger_favicon_url": "data:,"} if local else {}
    return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - docs", **extra)

# The page: the built web/dist at /, when it has been built.
if (WEB_DIST / "index.html").exists():
    app.mount("/assets", StaticFiles(directory=WEB_DIST / "assets"), name="assets")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(WEB_DIST / "index.html")

# The marketing console's endpoints (console.py, which uses this module's pool and helpers).
from .console import router as console_router  # noqa: E402

app.include_router(console_router)
