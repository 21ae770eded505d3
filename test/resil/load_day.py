#!/usr/bin/env python3
"""A production day, compressed: mixed load on the resilience database for --duration seconds.

On loopback, at the same time:
  - SQL clients score one row (custseg_predict(row, 'mall')) and the whole table in one statement;
  - API clients POST /predict (one customer) and /predict/batch (50 customers);
  - a dashboard reads the views (the mall_segments view of custseg_create_views, custseg_segment_offers);
  - a job retrains 'mall' every few seconds (k and seed vary), now and then rolls back to the
    previous version (custseg_activate) and relabels a segment;
  - once, in the middle, the database restarts (pg_ctl restart -m fast).
Checks:
  - no request errs, except around the restart: the SQL clients' lost connections (between the
    restart and --grace seconds after it); the API answers every request (it runs a statement whose
    connection the restart took once more, on a connection its pool opens when the server is up:
    its documented 503 "database unavailable" is accepted only if the server stays down longer than
    the pool's timeout);
  - every answer comes from one committed version: the segments a statement (or an API call)
    returned are those that one stored version gives every row it scored (checked at the end
    against every version, scored as values), and the API's `version` is such a version;
  - every row of the dashboard's view read has a label (a segment of the version that scored it);
  - backend memory (RssAnon of the SQL clients' backends) stays flat after the restart: it may not
    grow by more than --memory-slack MB between the first sample and the end.
Prints throughput, p50 and p99 latency and the errors per kind, and exits 1 on a failed check.

    load_day.py --dsn "dbname=load user=load host=..." --api http://127.0.0.1:PORT --duration 120 \\
                --pgdata DIR --pglog FILE --pg-bin DIR
"""
import argparse
import asyncio
import collections
import json
import os
import random
import subprocess
import sys
import time

import psycopg


class Http:
    """HTTP/1.1 keep-alive client over asyncio streams (reconnects after an error)."""

    def __init__(self, host, port):
        self.host, self.port, self.reader = host, port, None

    async def request(self, method, path, body=b""):
        if self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        try:
            self.writer.write(head + body)
            status = int((await self.reader.readline()).split()[1])
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                if k.lower() == "content-length":
                    length = int(v)
            return status, await self.reader.readexactly(length)
        except Exception:
            self.writer.close()
            self.reader = None
            raise


class Day:
    def __init__(self, a):
        self.a = a
        self.t0 = time.monotonic()
        self.stop = False
        self.lat = collections.defaultdict(list)
        self.errors = collections.Counter()       # kind: message -> count, outside the restart window
        self.expected = collections.Counter()     # documented errors within the restart window
        self.answers = []                         # (kind, {customer_id: segment}, version or None)
        self.labels_missing = 0
        self.restart = None                       # (start, end) on the monotonic clock
        self.jobs = collections.Counter()
        self.memory = {}                          # backend pid -> [first RssAnon kB, last]

    def now(self):
        return time.monotonic() - self.t0

    def in_window(self, t, grace):
        return self.restart is not None and self.restart[0] - 0.5 <= t <= (self.restart[1] or t) + grace

    def error(self, kind, e, documented):
        t = time.monotonic()
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        if documented and self.in_window(t, self.a.grace):
            self.expected[f"{kind}: {msg}"] += 1
        else:
            self.errors[f"{kind} at {t - self.t0:.1f} s: {msg}"] += 1

    # ---- clients ----

    async def connect(self):
        while not self.stop:
            try:
                return await psycopg.AsyncConnection.connect(self.a.dsn, autocommit=True)
            except psycopg.OperationalError as e:
                self.error("sql connect", e, True)
                await asyncio.sleep(0.2)

    async def sql_client(self, kind, rows):
        conn = await self.connect()
        pid = None
        while not self.stop:
            try:
                if pid is None:
                    pid = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone())[0]
                    self.memory.setdefault(pid, None)
                t = time.perf_counter()
                if kind == "sql one row":
                    cid = random.choice(rows)
                    cur = await conn.execute("SELECT c.customer_id, custseg_predict(c, 'mall') FROM mall c "
                                             "WHERE c.customer_id = %s", (cid,))
                else:
                    cur = await conn.execute("SELECT c.customer_id, custseg_predict(c, 'mall') FROM mall c")
                got = dict(await cur.fetchall())
                self.lat[kind].append(time.perf_counter() - t)
                self.answers.append((kind, got, None))
            except psycopg.Error as e:
                lost = conn.broken or conn.closed
                self.error(kind, e, lost or (e.sqlstate or "").startswith(("57P", "08")))
                if lost:
                    pid = None
                    conn = await self.connect()
                await asyncio.sleep(0.05)
            await asyncio.sleep(0)
        if conn is not None:
            await conn.close()

    async def api_client(self, kind, customers):
        http = Http(self.a.api_host, self.a.api_port)
        ids = list(customers)
        while not self.stop:
            if kind == "api one row":
                batch = [random.choice(ids)]
                path, body = "/predict?model=mall", json.dumps(customers[batch[0]]).encode()
            else:
                batch = random.sample(ids, 50)
                path = "/predict/batch?model=mall"
                body = json.dumps({"customers": [customers[i] for i in batch]}).encode()
            t = time.perf_counter()
            try:
                status, data = await http.request("POST", path, body)
            except Exception as e:  # the API itself must not drop connections
                self.error(kind, e, False)
                await asyncio.sleep(0.05)
                continue
            if status != 200:
                # The API retries a statement whose connection the restart took, on a connection the
                # pool opens once the server is up (waiting up to CUSTSEG_POOL_TIMEOUT): a 503 is
                # documented only when the server stays down longer than that.
                down = self.restart and (self.restart[1] or time.monotonic()) - self.restart[0]
                self.error(kind, f"HTTP {status}: {data[:200]!r}", status == 503 and bool(down) and down > self.a.pool_timeout)
                await asyncio.sleep(0.05)
                continue
            self.lat[kind].append(time.perf_counter() - t)
            r = json.loads(data)
            if kind == "api one row":
                self.answers.append((kind, {batch[0]: r["segment"]}, r["version"]))
            else:
                self.answers.append((kind, {i: x["segment"] for i, x in zip(batch, r["results"])}, r["version"]))

    async def dashboard(self):
        conn = await self.connect()
        while not self.stop:
            try:
                t = time.perf_counter()
                rows = await (await conn.execute("SELECT customer_id, segment, label FROM mall_segments")).fetchall()
                await (await conn.execute("SELECT model, segment, label, title, offer_rank FROM custseg_segment_offers "
                                          "ORDER BY model, segment, offer_rank")).fetchall()
                self.lat["dashboard views"].append(time.perf_counter() - t)
                self.answers.append(("dashboard", {r[0]: r[1] for r in rows}, None))
                self.labels_missing += sum(1 for r in rows if r[2] is None)
            except psycopg.Error as e:
                lost = conn.broken or conn.closed
                self.error("dashboard", e, lost or (e.sqlstate or "").startswith(("57P", "08")))
                if lost:
                    conn = await self.connect()
            await asyncio.sleep(0.2)
        await conn.close()

    async def job(self):
        """Retrains every --retrain-every seconds; every third time rolls back; relabels a segment."""
        conn = await self.connect()
        n = 0
        while not self.stop:
            await asyncio.sleep(self.a.retrain_every)
            n += 1
            try:
                t = time.perf_counter()
                r = await (await conn.execute(
                    "SELECT version FROM custseg_train('mall', 'mall', k => %s, options => jsonb_build_object('seed', %s))",
                    (random.choice([3, 4, 5]), n))).fetchone()
                self.lat["job: retrain"].append(time.perf_counter() - t)
                self.jobs["retrained"] += 1
                if n % 3 == 0 and r[0] > 1:
                    await conn.execute("SELECT custseg_activate('mall', %s)", (r[0] - 1,))
                    self.jobs["rolled back"] += 1
                await conn.execute("UPDATE custseg_segments SET label = %s WHERE model = 'mall' AND segment = "
                                   "(SELECT max(segment) FROM custseg_segments WHERE model = 'mall')",
                                   (f"campaign {n}",))
                self.jobs["relabelled"] += 1
            except psycopg.Error as e:
                lost = conn.broken or conn.closed
                self.error("job", e, lost or (e.sqlstate or "").startswith(("57P", "08")))
                if lost:
                    conn = await self.connect()
        await conn.close()

    async def restarter(self):
        await asyncio.sleep(self.a.duration * self.a.restart_at)
        start = time.monotonic()
        self.restart = (start, None)
        proc = await asyncio.create_subprocess_exec(
            "runuser", "-u", "postgres", "--", os.path.join(self.a.pg_bin, "pg_ctl"), "-D", self.a.pgdata,
            "-l", self.a.pglog, "-m", "fast", "-w", "-t", "60", "restart", stdout=subprocess.DEVNULL)
        rc = await proc.wait()
        self.restart = (start, time.monotonic())
        if rc != 0:
            self.errors["restart: pg_ctl restart failed"] += 1

    async def memory_sampler(self):
        """RssAnon of the scoring backends, sampled after the restart (and its grace) and at the end."""
        while not self.stop:
            await asyncio.sleep(1)
            if self.stop:
                break  # the clients are closing their connections
            if self.restart is None or self.restart[1] is None or time.monotonic() < self.restart[1] + self.a.grace + 5:
                continue
            for pid in list(self.memory):
                try:
                    with open(f"/proc/{pid}/status") as f:
                        kb = next(int(l.split()[1]) for l in f if l.startswith("RssAnon:"))
                except (OSError, StopIteration):
                    if self.memory[pid] is None:
                        self.memory.pop(pid, None)  # a backend from before the restart
                    continue
                first = self.memory[pid][0] if self.memory[pid] else kb
                self.memory[pid] = [first, kb]

    # ---- the day ----

    async def run(self):
        a = self.a
        conn = await psycopg.AsyncConnection.connect(a.dsn, autocommit=True)
        rows = await (await conn.execute(
            "SELECT customer_id, gender, age, annual_income_thousands, spending_score FROM mall")).fetchall()
        await conn.close()
        customers = {r[0]: {"gender": r[1], "age": r[2], "annual_income_thousands": r[3], "spending_score": r[4]}
                     for r in rows}
        ids = list(customers)
        tasks = [self.sql_client("sql one row", ids) for _ in range(a.sql_clients)]
        tasks += [self.sql_client("sql whole table", ids) for _ in range(max(1, a.sql_clients // 2))]
        tasks += [self.api_client("api one row", customers) for _ in range(a.api_clients)]
        tasks += [self.api_client("api batch of 50", customers) for _ in range(max(1, a.api_clients // 2))]
        tasks += [self.dashboard(), self.job(), self.memory_sampler()]
        running = [asyncio.create_task(t) for t in tasks]
        restart = asyncio.create_task(self.restarter())
        await asyncio.sleep(a.duration)
        self.stop = True
        await restart
        await asyncio.wait(running, timeout=60)
        return await self.judge(customers)

    async def judge(self, customers):
        a = self.a
        failed = []
        # Every stored version's segment for every row, scored with the model as a value.
        conn = await psycopg.AsyncConnection.connect(a.dsn, autocommit=True)
        by_version = collections.defaultdict(dict)
        for v, cid, seg in await (await conn.execute(
                "SELECT m.version, c.customer_id, custseg_predict(m.model, c) FROM custseg_models m, mall c "
                "WHERE m.name = 'mall'")).fetchall():
            by_version[v][cid] = seg
        await conn.close()
        mixed = collections.Counter()
        for kind, got, version in self.answers:
            ok = [v for v, seg in by_version.items() if all(seg.get(c) == s for c, s in got.items())]
            if not ok or (version is not None and version not in ok):
                mixed[kind] += 1
        duration = self.now()
        print(f"load: {duration:.0f} s, {a.sql_clients} + {max(1, a.sql_clients // 2)} SQL clients, "
              f"{a.api_clients} + {max(1, a.api_clients // 2)} API clients, a dashboard, a retraining job "
              f"({dict(self.jobs)}); {len(by_version)} versions of mall by the end")
        if self.restart and self.restart[1]:
            print(f"load: the database restarted at {self.restart[0] - self.t0:.1f} s "
                  f"(down {self.restart[1] - self.restart[0]:.1f} s)")
        print(f"{'load: kind':<28} {'requests':>9} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for kind, lat in sorted(self.lat.items()):
            s = sorted(lat)
            p = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000  # noqa: E731
            print(f"load: {kind:<22} {len(s):>9} {len(s) / duration:>8.1f} {p(0.5):>8.2f} {p(0.99):>8.2f}")
        print(f"load: answers checked against every committed version: {len(self.answers)}; "
              f"from no single committed version: {sum(mixed.values())}")
        print(f"load: documented errors around the restart: {sum(self.expected.values())}")
        for k, v in self.expected.most_common(8):
            print(f"load:   {v} x {k}")
        print(f"load: other errors: {sum(self.errors.values())}")
        for k, v in self.errors.most_common(20):
            print(f"load:   {v} x {k}")
        if self.errors:
            failed.append("requests failed outside the restart window")
        if mixed:
            failed.append(f"answers from no single committed version: {dict(mixed)}")
        if self.labels_missing:
            failed.append(f"{self.labels_missing} dashboard rows without a label")
        if not self.jobs["retrained"]:
            failed.append("the job never retrained")
        grown = {pid: (m[0], m[1]) for pid, m in self.memory.items() if m and m[1] - m[0] > a.memory_slack * 1024}
        sampled = [m for m in self.memory.values() if m]
        if sampled:
            print(f"load: backend memory (RssAnon) of {len(sampled)} scoring backends after the restart: "
                  f"{min(m[0] for m in sampled) / 1024:.1f}-{max(m[0] for m in sampled) / 1024:.1f} MB at first, "
                  f"{min(m[1] for m in sampled) / 1024:.1f}-{max(m[1] for m in sampled) / 1024:.1f} MB at the end")
        else:
            failed.append("no backend memory sample")
        if grown:
            failed.append(f"backend memory grew by more than {a.memory_slack} MB: {grown}")
        for f in failed:
            print(f"load: FAILED: {f}", file=sys.stderr)
        return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--api", required=True, help="the API's base URL (loopback)")
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--sql-clients", type=int, default=4)
    ap.add_argument("--api-clients", type=int, default=4)
    ap.add_argument("--retrain-every", type=float, default=3.0)
    ap.add_argument("--restart-at", type=float, default=0.4, help="fraction of the duration")
    ap.add_argument("--grace", type=float, default=15.0, help="seconds after the restart in which errors are expected")
    ap.add_argument("--pool-timeout", type=float, default=10.0, help="the API's CUSTSEG_POOL_TIMEOUT")
    ap.add_argument("--memory-slack", type=float, default=8.0, help="MB a backend may grow")
    ap.add_argument("--pgdata", required=True)
    ap.add_argument("--pglog", required=True)
    ap.add_argument("--pg-bin", required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    random.seed(a.seed)
    host, _, port = a.api.split("//")[1].partition(":")
    a.api_host, a.api_port = host, int(port.rstrip("/"))
    return asyncio.run(Day(a).run())


if __name__ == "__main__":
    sys.exit(main())
