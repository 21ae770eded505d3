#!/usr/bin/env python3
"""custseg on Citus against one node, on the same machine and the same rows (run by bench/citus.sh).

For each size, a local table (one node: the coordinator's own PostgreSQL, parallel query on) and a
hash-distributed copy (32 shards on 2 workers) of bench/make_table.sql's customers. Times, as medians:
  floor     SELECT count(*) FROM t c WHERE c IS NOT NULL  (reading every row as a whole)
  train     custseg_fit(t, opts) on one node, custseg_fit_columns(...) on Citus; and "bounded", what
            custseg_train runs on Citus: the row count for custseg_sample_threshold, then the
            aggregate with that bound, so that each shard ships only its share of the sample
  score     SELECT sum(custseg_predict(c, 'name')) FROM t c  (by name, as users write it)
and prints the ratios: each against its own floor, and distributed against one node. At the first
size it also counts the rows whose segment differs between the distributed, the parallel and the
serial model (default sample_size). Prints no verdict; times are never asserted.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time

import psycopg2

OPTS = '{"k": 3, "exclude": ["customer_id"]}'


def parse_size(s):
    s = s.strip().lower()
    return int(s[:-1]) * {"k": 1000, "m": 1000000}[s[-1]] if s[-1] in "km" else int(s)


def label(n):
    return f"{n // 1000000}M" if n % 1000000 == 0 else f"{n // 1000}k"


def connect():
    c = psycopg2.connect("")
    c.autocommit = True
    return c


def timed(cur, sql, params=None):
    t = time.perf_counter()
    cur.execute(sql, params)
    if cur.description is not None:
        cur.fetchall()
    return time.perf_counter() - t


def median_of(runs, fn):
    return statistics.median(fn() for _ in range(runs))


def make_tables(rows):
    local, dist = f"one_{label(rows).lower()}", f"dist_{label(rows).lower()}"
    t = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"name={local}", "-v", f"rows={rows}",
                    "-f", "bench/make_table.sql"], check=True, stdout=subprocess.DEVNULL)
    cur = connect().cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute(f"DROP TABLE IF EXISTS {dist}")
    cur.execute(f"CREATE TABLE {dist} (LIKE {local} INCLUDING ALL)")
    cur.execute(f"SELECT create_distributed_table('{dist}', 'customer_id', shard_count => 32)")
    cur.execute(f"INSERT INTO {dist} SELECT * FROM {local}")
    cur.execute(f"VACUUM ANALYZE {dist}")
    print(f"  tables {local} and {dist}: {time.perf_counter() - t:.0f} s", flush=True)
    return local, dist


def bench_size(rows, runs, agreement):
    local, dist = make_tables(rows)
    cur = connect().cursor()
    cur.execute("SET client_min_messages = warning")
    cur.execute("SELECT custseg_fit_columns_args(%s, custseg_training_options(%s, NULL, NULL, %s))",
                (dist, dist, OPTS))
    args = cur.fetchone()[0]
    r = {"rows": rows}
    q = {
        "one_floor": f"SELECT count(*) FROM {local} c WHERE c IS NOT NULL",
        "one_train": f"SELECT custseg_fit(t, '{OPTS}') IS NOT NULL FROM {local} t",
        "one_score": f"SELECT sum(custseg_predict(c, 'bench_one')) FROM {local} c",
        "dist_floor": f"SELECT count(*) FROM {dist} c WHERE c IS NOT NULL",
        "dist_train": f"SELECT custseg_fit_columns({args}, '{OPTS}') IS NOT NULL FROM {dist} t",
        "dist_score": f"SELECT sum(custseg_predict(c, 'bench_dist')) FROM {dist} c",
    }
    cur.execute("SELECT custseg_train('bench_one', %s, k => 3, exclude => '{customer_id}')", (local,))
    cur.execute("SELECT custseg_train('bench_dist', %s, k => 3, exclude => '{customer_id}')", (dist,))
    for key in ("one_floor", "dist_floor"):
        timed(cur, q[key])  # warm the caches
    for key, sql in q.items():
        r[key] = median_of(runs, lambda: timed(cur, sql))
        print(f"  {key}: {r[key]:.3f} s", flush=True)

    # What custseg_train runs on a Citus table: the row count for the sample bound
    # (custseg_sample_threshold), then the aggregate with it, each shard shipping its share.
    def bounded():
        t = time.perf_counter()
        cur.execute("SELECT custseg_sample_threshold(%s, %s)", (dist, OPTS))
        bound = json.dumps(cur.fetchone()[0])
        cur.execute(f"SELECT custseg_fit_columns({args}, %s) IS NOT NULL FROM {dist} t", (bound,))
        cur.fetchall()
        return time.perf_counter() - t
    r["dist_train_bounded"] = median_of(runs, bounded)
    print(f"  dist_train_bounded: {r['dist_train_bounded']:.3f} s", flush=True)
    if agreement:
        # The three models of the same rows: distributed, parallel and serial on one node.
        cur.execute("DROP TABLE IF EXISTS bench_models")
        cur.execute(f"CREATE TABLE bench_models AS SELECT 'distributed' AS kind, custseg_fit_columns({args}, '{OPTS}') AS model FROM {dist} t")
        cur.execute(f"INSERT INTO bench_models SELECT 'parallel', custseg_fit(t, '{OPTS}') FROM {local} t")
        cur.execute("SET max_parallel_workers_per_gather = 0")
        cur.execute(f"INSERT INTO bench_models SELECT 'serial', custseg_fit(t, '{OPTS}') FROM {local} t")
        cur.execute("RESET max_parallel_workers_per_gather")
        cur.execute(f"""SELECT count(*) FILTER (WHERE d <> s), count(*) FILTER (WHERE p <> s), count(*)
                        FROM (SELECT custseg_predict((SELECT model FROM bench_models WHERE kind = 'distributed'), c) AS d,
                                     custseg_predict((SELECT model FROM bench_models WHERE kind = 'parallel'), c) AS p,
                                     custseg_predict((SELECT model FROM bench_models WHERE kind = 'serial'), c) AS s
                              FROM {local} c) x""")
        r["rows_differing_distributed_vs_serial"], r["rows_differing_parallel_vs_serial"], _ = cur.fetchone()
        cur.execute("SELECT (custseg_model_json(model) #>> '{training,rows_clustered}')::bigint FROM bench_models WHERE kind = 'serial'")
        r["rows_clustered"] = cur.fetchone()[0]
        print(f"  rows with another segment than the serial model's: distributed {r['rows_differing_distributed_vs_serial']}, "
              f"parallel {r['rows_differing_parallel_vs_serial']} (k-means sample {r['rows_clustered']} rows)", flush=True)
    cur.execute(f"DROP TABLE {dist}")
    cur.execute(f"DROP TABLE {local}")
    return r


def ratios(r):
    return {
        "dist_train / dist_floor": r["dist_train"] / r["dist_floor"],
        "dist_train_bounded / dist_floor": r["dist_train_bounded"] / r["dist_floor"],
        "dist_score / dist_floor": r["dist_score"] / r["dist_floor"],
        "one_train / one_floor": r["one_train"] / r["one_floor"],
        "one_score / one_floor": r["one_score"] / r["one_floor"],
        "dist_floor / one_floor": r["dist_floor"] / r["one_floor"],
        "dist_train / one_train": r["dist_train"] / r["one_train"],
        "dist_score / one_score": r["dist_score"] / r["one_score"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1m,10m")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    results = []
    for i, size in enumerate(parse_size(s) for s in a.sizes.split(",")):
        print(f"{label(size)} rows (coordinator + 2 workers, 32 shards; one node = the coordinator's local table)", flush=True)
        r = bench_size(size, a.runs, agreement=(i == 0))
        r["ratios"] = ratios(r)
        for k, v in r["ratios"].items():
            print(f"  {k:26s} {v:6.2f}")
        results.append(r)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
