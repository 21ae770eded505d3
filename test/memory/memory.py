#!/usr/bin/env python3
"""Backend memory while scoring and training on 10 million rows.

Runs against the PostgreSQL server in the PG* environment (custseg installed, server on this machine
so that /proc/<backend pid>/status is readable). A thread samples the backend's private resident
memory (RssAnon: heap and anonymous mappings, not the shared buffers it touches) every 50 ms while
one statement runs, and the statement's peak growth over the backend's idle size is reported.

- Scoring keeps memory flat: every way of scoring runs over the first million rows, then over all
  ten million, in one fresh backend each; the peak of the second run may exceed the first by at
  most SCORE_SLACK_KB. A leak of one byte per row would add 9 MB.
- Training stays within the bound README's "Memory and sampling" documents for the table's width
  (the sample's room is 1.5 sample_size + 16 entries of 8 (f + 2) bytes for f feature columns, the
  moments 3 D^2 doubles for D encoded columns): 2.5 times the room while it grows; in the final step
  the state (read in place), 32 bytes per entry to order the sample, the clustered rows in the
  k-means space (twice 8 p bytes each for p components, 32 bytes each to sort them) and k-means'
  work arrays (32 bytes each); plus TRAIN_SLACK_MB for the executor and allocator.
  Checked with the default sample (100,000 rows) and with a million kept rows.
- An explicit sample_size above the 256 MB bound fails with 54000 before using memory.

Run with Debian's interpreter: /usr/bin/python3 test/memory/memory.py [rows]
"""
import json
import sys
import threading
import time

import psycopg2

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
FIRST = ROWS // 10
SCORE_SLACK_KB = 2048
TRAIN_SLACK_MB = 48
KEPT_BYTES = 256 << 20  # custseg's bound on the room for rows kept for k-means


def sample_limit(f):
    """The largest sample_size whose room (1.5 x entries of 8 (f + 2) bytes) fits KEPT_BYTES."""
    return KEPT_BYTES * 2 // (3 * 8 * (f + 2))

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def connect():
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/%d/status" % pid)


class Backend:
    """One backend, with a sampler of its private memory while a statement runs."""

    def __init__(self):
        self.conn = connect()
        self.cur = self.conn.cursor()
        self.cur.execute("SET max_parallel_workers_per_gather = 0")  # all work in this backend
        self.cur.execute("SET jit = off")
        self.cur.execute("SELECT pg_backend_pid()")
        self.pid = self.cur.fetchone()[0]

    def run(self, sql, params=None):
        """Runs sql; returns (result rows or the error, idle kB before, peak kB during, seconds)."""
        idle = rss_anon_kb(self.pid)
        peak = [idle]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], rss_anon_kb(self.pid))

        t = threading.Thread(target=sample)
        t.start()
        start = time.monotonic()
        try:
            self.cur.execute(sql, params)
            result = self.cur.fetchall() if self.cur.description else None
        except psycopg2.Error as e:
            result = e
        finally:
            done.set()
            t.join()
        peak[0] = max(peak[0], rss_anon_kb(self.pid))
        return result, idle, peak[0], time.monotonic() - start

    def close(self):
        self.conn.close()


def mb(kb):
    return "%.1f MB" % (kb / 1024)


def setup(cur):
    start = time.monotonic()
    cur.execute("DROP EXTENSION IF EXISTS custseg CASCADE")
    cur.execute("CREATE EXTENSION custseg")
    cur.execute("DROP TABLE IF EXISTS mem_customers")
    # 6 numeric (float8, numeric, int) and 2 categorical columns, three planted segments.
    cur.execute(
        """CREATE UNLOGGED TABLE mem_customers (id bigint PRIMARY KEY, age float8, income numeric, score float8,
             visits int, tenure float8, spend numeric(12,2), region text, plan text)"""
    )
    cur.execute("ALTER TABLE mem_customers SET (autovacuum_enabled = off)")
    cur.execute("SELECT setseed(0.5)")
    cur.execute(
        """INSERT INTO mem_customers
           SELECT i, 25 + 15 * g + 8 * random(), 40 + 30 * g + 20 * random(), 80 - 30 * g + 10 * random(),
                  g * 4 + (random() * 5)::int, 10 * random() + g, (100 + 200 * g + 50 * random())::numeric(12,2),
                  (ARRAY['north', 'south', 'east', 'west'])[1 + (random() * 3.99)::int],
                  (ARRAY['basic', 'plus', 'pro'])[1 + g]
           FROM (SELECT i, i %% 3 AS g FROM generate_series(1::bigint, %s) i) s""",
        (ROWS,),
    )
    cur.execute("VACUUM ANALYZE mem_customers")
    print("setup: %d rows in %.1f s" % (ROWS, time.monotonic() - start), flush=True)


def training(options, table):
    """Training on every row with these options (a JSON object's members); returns the model's JSON."""
    b = Backend()
    res, idle, peak, secs = b.run(
        """CREATE TABLE %s AS
           SELECT custseg_fit(c, '{"exclude": ["id"], "seed": 1%s}') AS model FROM mem_customers c"""
        % (table, options)
    )
    check(not isinstance(res, Exception), "training on %d rows: %s" % (ROWS, res if isinstance(res, Exception) else "done"))
    b.cur.execute("SELECT custseg_model_json(model) FROM %s" % table)
    m = b.cur.fetchone()[0]
    f = len(m["features"])
    d = len(m["columns"])
    p = m["pca"]["n_components"] if m["pca"] else d
    t = m["training"]
    rows_kept = min(m["options"]["sample_size"], sample_limit(f), t["rows_used"])
    room = rows_kept + rows_kept // 2 + 16
    kept = room * 8 * (f + 2)
    moments = 3 * d * d * 8
    # README: while the sample grows, the old state, the new one and the executor's copy of it (at
    # most 2.5x the room); in the final step, the state read in place, 32 bytes per entry to order
    # it, the clustered rows in the k-means space (p doubles each, twice while they are ordered, and
    # 32 bytes for that sort) and k-means' work arrays (32 bytes per row).
    growing = 5 * kept // 2 + moments
    final = kept + moments + room * 32 + t["rows_clustered"] * (16 * p + 64)
    bound_kb = max(growing, final) // 1024
    growth = peak - idle
    print(
        "training %s: %.1f s, %d features (%d encoded columns, %d components), %d rows clustered"
        % (options or "(defaults)", secs, f, d, p, t["rows_clustered"])
    )
    print(
        "training: backend idle %s, peak %s, growth %s; kept rows %s, documented bound %s (growing sample %s, final step %s)"
        % (mb(idle), mb(peak), mb(growth), mb(kept // 1024), mb(bound_kb), mb(growing // 1024), mb(final // 1024)),
        flush=True,
    )
    check(
        growth <= bound_kb + TRAIN_SLACK_MB * 1024,
        "training peak growth %s <= bound %s + %d MB" % (mb(growth), mb(bound_kb), TRAIN_SLACK_MB),
    )

    # An explicit sample_size above the bound fails on the first row, before the rows are kept.
    limit = sample_limit(f)
    res, idle, peak, secs = b.run(
        """SELECT custseg_fit(c, '{"exclude": ["id"], "sample_size": %d}') FROM mem_customers c"""
        % (limit + 1)
    )
    check(
        isinstance(res, psycopg2.Error) and res.pgcode == "54000",
        "sample_size %d (bound %d rows of %d columns): %s"
        % (limit + 1, limit, f, (res.pgcode + " " + res.pgerror.splitlines()[0]) if isinstance(res, psycopg2.Error) else "no error"),
    )
    check(peak - idle < 16 * 1024, "failing sample_size grew the backend by %s (< 16 MB)" % mb(peak - idle))
    b.close()
    return m


def scoring():
    cur = connect().cursor()
    # The trained model, registered for scoring by name and by table.
    cur.execute(
        """INSERT INTO custseg_models (name, version, source, model, active)
           SELECT 'mem', 1, 'public.mem_customers', model, true FROM mem_model"""
    )
    ways = [
        ("custseg_predict(model, row), model from a CTE",
         """WITH m AS MATERIALIZED (SELECT model FROM mem_model)
            SELECT sum(custseg_predict(m.model, c)) FROM m, mem_customers c WHERE c.id <= %s"""),
        ("custseg_predict(row, name)", "SELECT sum(custseg_predict(c, 'mem')) FROM mem_customers c WHERE c.id <= %s"),
        ("custseg_predict(row) by table", "SELECT sum(custseg_predict(c)) FROM mem_customers c WHERE c.id <= %s"),
        ("custseg_score(row, name)",
         "SELECT sum((custseg_score(c, 'mem')).confidence) FROM mem_customers c WHERE c.id <= %s"),
        ("custseg_transform(model, row)",
         """WITH m AS MATERIALIZED (SELECT model FROM mem_model)
            SELECT sum((custseg_transform(m.model, c))[1]) FROM m, mem_customers c WHERE c.id <= %s"""),
    ]
    for name, sql in ways:
        b = Backend()
        r1, idle1, peak1, s1 = b.run(sql, (FIRST,))
        r2, idle2, peak2, s2 = b.run(sql, (ROWS,))
        b.close()
        if isinstance(r1, Exception) or isinstance(r2, Exception):
            check(False, "%s: %s" % (name, r1 if isinstance(r1, Exception) else r2))
            continue
        print(
            "scoring %s: %d rows %.1f s peak %s; %d rows %.1f s peak %s (idle %s)"
            % (name, FIRST, s1, mb(peak1), ROWS, s2, mb(peak2), mb(idle1)),
            flush=True,
        )
        check(
            peak2 - peak1 <= SCORE_SLACK_KB,
            "%s: peak over %d rows - peak over %d rows = %d kB (<= %d kB)" % (name, ROWS, FIRST, peak2 - peak1, SCORE_SLACK_KB),
        )


def main():
    conn = connect()
    setup(conn.cursor())
    training("", "mem_model")
    training(', "sample_size": 1000000', "mem_model_1m")
    scoring()
    if failures:
        print("memory: %d FAILED" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("memory: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
