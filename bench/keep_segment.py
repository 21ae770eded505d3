#!/usr/bin/env python3
"""What a kept segment costs on write, against baselines measured in the same run.

Against the server in the PG* environment (the extension installed), in a database of its own:
RFM-like customers (5 numeric features, N rows) are written three ways, each the median of --runs:
  plain      INSERT ... SELECT into a table without a segment column (the floor)
  predict    the same with the segment computed in the statement: custseg_predict(row, model)
  kept       INSERT ... SELECT into a table kept by custseg_keep_segment (its trigger scores each row)
then every row's features are updated the same three ways, and custseg_rescore re-scores the kept
table after a retrain. Prints times and the ratios kept / predict and kept / plain; asserts nothing.

  /usr/bin/python3 bench/keep_segment.py --rows 100000 --runs 3
"""
import argparse
import statistics
import time

import psycopg2

DB = "custseg_bench_keep"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    admin = psycopg2.connect("")
    admin.autocommit = True
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    conn = psycopg2.connect(dbname=DB)
    conn.autocommit = True
    cur = conn.cursor()

    def run(sql):
        t = time.perf_counter()
        cur.execute(sql)
        return time.perf_counter() - t

    cols = "id int PRIMARY KEY, recency_days float8, frequency bigint, monetary float8, monetary_avg float8, tenure_days float8"
    cur.execute("CREATE EXTENSION custseg; SET client_min_messages = warning")
    cur.execute(f"""CREATE TABLE src AS SELECT i::int AS id, (i * 7919 % 365)::float8 AS recency_days, (1 + i % 13)::bigint AS frequency,
                    (i * 104729 % 5000) / 10.0 AS monetary, (i * 1299709 % 1000) / 10.0 AS monetary_avg,
                    (365 + i % 200)::float8 AS tenure_days FROM generate_series(1::bigint, {a.rows}) i;
                    ALTER TABLE src ADD PRIMARY KEY (id); ANALYZE src""")
    cur.execute("SELECT custseg_train('bench', 'src', k => 4, options => '{\"seed\": 1}')")
    feats = "recency_days, frequency, monetary, monetary_avg, tenure_days"
    variants = [
        ("plain", f"CREATE TABLE t ({cols})", f"INSERT INTO t SELECT * FROM src",
         "UPDATE t SET recency_days = recency_days + 30"),
        ("predict", f"CREATE TABLE t ({cols}, segment int)",
         f"INSERT INTO t SELECT s.*, custseg_predict(s, 'bench') FROM src s",
         "UPDATE t SET recency_days = recency_days + 30, segment = custseg_predict(ROW(t.id, t.recency_days + 30, "
         "t.frequency, t.monetary, t.monetary_avg, t.tenure_days)::src, 'bench')"),
        ("kept", f"CREATE TABLE t ({cols}); SELECT custseg_keep_segment('t', 'bench')",
         f"INSERT INTO t ({'id, ' + feats}) SELECT * FROM src", "UPDATE t SET recency_days = recency_days + 30"),
    ]
    times = {name: ([], [], []) for name, *_ in variants}
    logged = {}
    # The variants take turns within each run, so that a slower moment of a shared machine hits all of them.
    for _ in range(a.runs):
        for name, setup, insert, update in variants:
            cur.execute("DROP TABLE IF EXISTS t")
            cur.execute("CHECKPOINT")
            cur.execute(setup)
            times[name][0].append(run(insert))
            # A feature written with its own value: the segment is recomputed but cannot change.
            times[name][1].append(run(update.replace("recency_days + 30", "recency_days")))
            cur.execute("SELECT count(*) FROM custseg_segment_changes")
            before = cur.fetchone()[0]
            times[name][2].append(run(update))
            cur.execute("SELECT count(*) FROM custseg_segment_changes")
            logged[name] = cur.fetchone()[0] - before
    results = {name: tuple(statistics.median(x) for x in t) for name, t in times.items()}
    for name, r in results.items():
        print(f"{name:8s} insert {r[0] * 1000:8.1f} ms   update, no change {r[1] * 1000:8.1f} ms   "
              f"update, recency + 30 {r[2] * 1000:8.1f} ms ({logged[name]} changes logged)   ({a.rows} rows)")
    for i, what in enumerate(("insert", "update without segment changes", "update with segment changes")):
        k, p, f = results["kept"][i], results["predict"][i], results["plain"][i]
        print(f"{what}: kept / predict = {k / p:.2f}, kept / plain = {k / f:.2f}, "
              f"per row: kept {1e6 * (k - f) / a.rows:.2f} us over plain, predict {1e6 * (p - f) / a.rows:.2f} us")
    cur.execute("SELECT custseg_train('bench', 't', k => 4, options => '{\"seed\": 2}')")
    t = run("CALL custseg_rescore('t', batch_size => 10000)")
    cur.execute("SELECT rescore_done, rescore_changed FROM custseg_kept_segments")
    done, changed = cur.fetchone()
    scan = run("SELECT count(custseg_predict(t, 'bench')) FROM t")
    print(f"rescore: {done} rows in {t * 1000:.1f} ms ({changed} changed), batches of 10000; "
          f"a scan scoring every row: {scan * 1000:.1f} ms (ratio {t / scan:.1f})")
    conn.close()
    admin.cursor().execute(f"DROP DATABASE {DB}")
    admin.close()


if __name__ == "__main__":
    main()
