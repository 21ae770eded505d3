#!/usr/bin/env python3
"""Latency of custseg's POST /predict under a bounded local load, with baselines from the same run.

Fires --requests POST /predict calls (after a warm-up) from --concurrency keep-alive connections on
loopback, each customer drawn (seeded) from the model's training ranges and levels, and reports p50,
p90, p99 and throughput. Baselines measured the same way in the same run: GET /healthz (the HTTP
stack and one trivial query: what the API layer costs) and, when the database is reachable, the
same customers scored directly over psycopg from as many connections, with the API's own statement
(custseg_score, the offers and the response's JSON: what the database costs the API) and with
`custseg_predict(jsonb, model)` (the segment alone). Not a test: it asserts nothing about time.

    python3 bench/api_latency.py --url http://127.0.0.1:8000 --requests 3000 --concurrency 8
"""
import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import time
from urllib.parse import urlsplit


def customers_for(spec, n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        c = {}
        for f in spec["features"]:
            if f["kind"] == "numeric":
                lo, hi = f.get("min"), f.get("max")
                c[f["name"]] = None if lo is None else round(rng.uniform(lo, hi), 2)
            else:
                c[f["name"]] = rng.choice(f["levels"]) if f["levels"] else None
        out.append(c)
    return out


class Connection:
    """HTTP/1.1 keep-alive over asyncio streams; one write per request, TCP_NODELAY."""

    def __init__(self, host, port):
        self.host, self.port = host, port

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def request(self, method, path, body=b""):
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.lower() == "content-length":
                length = int(v)
        data = await self.reader.readexactly(length)
        status = int(status_line.split()[1])
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:300]!r}")
        return data

    def close(self):
        self.writer.close()


async def run_load(url, concurrency, jobs):
    """jobs: list of (method, path, body). Returns per-request latencies (s) and wall time."""
    u = urlsplit(url)
    conns = [Connection(u.hostname, u.port or 80) for _ in range(concurrency)]
    for c in conns:
        await c.open()
    latencies = []
    it = iter(jobs)

    async def worker(c):
        for method, path, body in it:
            t = time.perf_counter()
            await c.request(method, path, body)
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return latencies, wall


def api_statement(spec):
    """The API's own scoring statement for this model (custseg_api.main.score_query) and the spec its
    parameters are drawn from (score_params; the segment numbers are read by run_sql)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "api"))
    from custseg_api.main import score_query

    class Spec:
        features = spec["features"]
        feature_names = [f["name"] for f in spec["features"]]
        version = spec["version"]
        segment_ids = None
    return Spec, score_query(Spec())


async def run_sql(dsn, model, concurrency, customers, statement=None):
    """Scores the customers directly over psycopg: custseg_predict(jsonb, model), or the API's statement
    (api_statement's (spec, statement))."""
    import psycopg
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(concurrency)]
    if statement is not None:
        from custseg_api.main import score_params  # importable once api_statement has run
        spec, statement = statement
        if spec.segment_ids is None:
            cur = await conns[0].execute("SELECT custseg_model_json(model) -> 'kmeans' -> 'segments' FROM custseg_models "
                                         "WHERE name = %s AND version = %s", (model, spec.version))
            spec.segment_ids = (await cur.fetchone())[0]
            spec.segment_ids_literal = "{" + ",".join(map(str, spec.segment_ids)) + "}"
        statement = statement.as_string(conns[0])
    latencies = []
    it = iter(customers)

    async def worker(conn):
        for c in it:
            t = time.perf_counter()
            if statement is None:
                cur = await conn.execute("SELECT custseg_predict(%s::jsonb, %s)", (json.dumps(c), model))
            else:
                cur = await conn.execute(statement, score_params(spec, model, [c]))
            await cur.fetchone()
            latencies.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        await c.close()
    return latencies, wall


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def report(name, lat, wall):
    p50, p90, p99 = (pct(lat, p) * 1000 for p in (50, 90, 99))
    print(f"{name:<34} n={len(lat):<6} p50={p50:7.2f} ms  p90={p90:7.2f} ms  p99={p99:7.2f} ms  "
          f"mean={statistics.mean(lat) * 1000:7.2f} ms  {len(lat) / wall:8.0f} req/s")
    return p50, p99


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--model", default=None, help="model name (default: the API's default)")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-url", default=os.environ.get("CUSTSEG_DATABASE_URL", ""),
                    help="for the direct SQL baseline (default: CUSTSEG_DATABASE_URL or the PG* variables)")
    ap.add_argument("--no-sql-baseline", action="store_true")
    ap.add_argument("--rounds", type=int, default=5, help="measurements alternate in this many rounds")
    a = ap.parse_args()

    u = urlsplit(a.url)
    probe = Connection(u.hostname, u.port or 80)
    await probe.open()
    health = json.loads(await probe.request("GET", "/healthz"))
    model = a.model or health["default_model"]
    spec = json.loads(await probe.request("GET", f"/models/{model}"))
    probe.close()
    customers = customers_for(spec, a.requests + a.warmup, a.seed)
    bodies = [json.dumps(c).encode() for c in customers]
    path = f"/predict?model={model}"
    print(f"custseg API latency: {a.url}, model {model} v{spec['version']}, {a.requests} requests "
          f"(+{a.warmup} warm-up), concurrency {a.concurrency}, loopback, {os.cpu_count()} CPUs")

    await run_load(a.url, a.concurrency, [("POST", path, b) for b in bodies[:a.warmup]])
    sql_ok = not a.no_sql_baseline
    if sql_ok:
        try:
            statement = api_statement(spec)
            await run_sql(a.database_url, model, a.concurrency, customers[:a.warmup], statement)
        except Exception as e:  # the database may not be reachable from here
            print(f"(no direct SQL baseline: {e})")
            sql_ok = False
    # Rounds alternate the measurements, so that a change in the machine's load (a shared machine)
    # falls on all of them alike rather than on whichever ran at that moment.
    kinds = {"predict": [], "healthz": [], "statement": [], "sql": []}
    walls = dict.fromkeys(kinds, 0.0)
    rest = customers[a.warmup:]
    step = -(-a.requests // a.rounds)
    for r in range(a.rounds):
        part = slice(r * step, min(a.requests, (r + 1) * step))
        for kind in kinds:
            if kind == "predict":
                lat, wall = await run_load(a.url, a.concurrency, [("POST", path, b) for b in bodies[a.warmup:][part]])
            elif kind == "healthz":
                lat, wall = await run_load(a.url, a.concurrency, [("GET", "/healthz", b"")] * len(rest[part]))
            elif not sql_ok:
                continue
            else:
                lat, wall = await run_sql(a.database_url, model, a.concurrency, rest[part],
                                          statement if kind == "statement" else None)
            kinds[kind] += lat
            walls[kind] += wall
    p50, p99 = report("POST /predict", kinds["predict"], walls["predict"])
    h50, h99 = report("baseline GET /healthz", kinds["healthz"], walls["healthz"])
    if sql_ok:
        a50, a99 = report("baseline SQL: the API's statement", kinds["statement"], walls["statement"])
        s50, s99 = report("baseline SQL custseg_predict(jsonb)", kinds["sql"], walls["sql"])
    print(f"ratio /predict : /healthz            p50 {p50 / h50:5.2f}x   p99 {p99 / h99:5.2f}x")
    if sql_ok:
        print(f"ratio /predict : the API's statement p50 {p50 / a50:5.2f}x   p99 {p99 / a99:5.2f}x")
        print(f"ratio /predict : custseg_predict     p50 {p50 / s50:5.2f}x   p99 {p99 / s99:5.2f}x")

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
