#!/usr/bin/env python3
"""Customers in motion against pandas and against a listening application.

Runs against the PostgreSQL server in the PG* environment (the extension installed), in a database
of its own. On the real CDNOW purchase history (../shared/data/cdnow_transactions.csv, 2,891 orders
of 1,000 customers) custseg_rfm must give, for every customer and several as_of dates, windows and
with units, the numbers pandas computes from the same CSV with the documented rules (orders after
as_of left out; a negative amount is a refund: not an order, but in the net monetary; a NULL amount
is an order of unknown amount; a zero amount is an order worth 0); the CSV is also run with NULL
amounts, refunds and zeros planted. Then a table keeps a segment (custseg_keep_segment): after
inserts, updates, a retrain and custseg_rescore the stored segment equals custseg_predict on every
row, and a second connection that LISTENs on custseg_segment_changed receives exactly one
notification per changed customer, whose payload matches the row and the log.

Run with Debian's interpreter: /usr/bin/python3 test/diff/test_motion.py
"""
import json
import os
import select
import sys
import time

import numpy as np
import pandas as pd
import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CSV = os.path.join(os.path.dirname(ROOT), "shared", "data", "cdnow_transactions.csv")
DBNAME = "custseg_motion_test"

failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def connect(dbname=None):
    conn = psycopg2.connect(dbname=dbname) if dbname else psycopg2.connect("")
    conn.autocommit = True
    return conn


def q(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def pandas_rfm(orders, as_of, window_days=None, quantity=False):
    """The documented rules, in pandas."""
    o = orders[orders.customer_id.notna() & orders.order_date.notna() & (orders.order_date <= as_of)].copy()
    o["purchase"] = o.amount.isna() | (o.amount >= 0)
    p = o[o.purchase]
    g = p.groupby("customer_id")
    r = pd.DataFrame({
        "recency_days": (as_of - g.order_date.max()).dt.days.astype(float),
        "frequency": g.size(),
        "tenure_days": (as_of - g.order_date.min()).dt.days.astype(float),
        "monetary_avg": p[p.amount >= 0].groupby("customer_id").amount.mean(),
    })
    r["monetary"] = o.groupby("customer_id").amount.sum(min_count=1)
    if quantity:
        r["quantity"] = o.groupby("customer_id").cds.sum(min_count=1)
    if window_days:
        w = o[o.order_date > as_of - pd.Timedelta(days=window_days)]
        r["recent_frequency"] = w[w.purchase].groupby("customer_id").size()
        r["recent_frequency"] = r.recent_frequency.fillna(0)
        r["recent_monetary"] = w.groupby("customer_id").amount.sum().reindex(r.index).fillna(0)
        if quantity:
            r["recent_quantity"] = w.groupby("customer_id").cds.sum().reindex(r.index).fillna(0)
    return r.loc[r.frequency.notna()].sort_index()


def same(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    both_nan = np.isnan(a) & np.isnan(b)
    close = np.isclose(a, b, rtol=1e-12, atol=1e-9)
    return bool(np.all(both_nan | close)), int(np.sum(~(both_nan | close)))


def compare_rfm(conn, table, orders, as_of, window_days=None, quantity=False):
    args = ["%s::timestamptz"]
    params = [as_of.strftime("%Y-%m-%d")]
    if window_days:
        args.append("window_days => %s")
        params.append(window_days)
    if quantity:
        args.append("quantity_column => 'cds'")
    sql = (f"SELECT * FROM custseg_rfm('{table}', 'customer_id', 'order_date', 'amount', {', '.join(args)}) "
           "ORDER BY customer_key")
    with conn.cursor() as cur:
        cur.execute(sql, params)
        cols = [d[0] for d in cur.description]
        got = pd.DataFrame(cur.fetchall(), columns=cols).set_index("customer_key").sort_index()
    want = pandas_rfm(orders, as_of, window_days, quantity)
    what = f"{table} as of {as_of.date()}" + (f", {window_days}-day window" if window_days else "") + \
        (", with units" if quantity else "")
    check(list(got.index) == list(want.index), f"custseg_rfm {what}: the same {len(want)} customers as pandas")
    for col in want.columns:
        if col not in got.columns:
            check(False, f"custseg_rfm {what}: column {col} missing")
            continue
        ok, bad = same(got.loc[want.index, col].astype(float), want[col].astype(float))
        check(ok, f"custseg_rfm {what}: {col} equals pandas for every customer ({bad} differ)")
    extra = set(got.columns) - set(want.columns)
    check(not extra, f"custseg_rfm {what}: no unexpected columns {sorted(extra)}")


def load_orders(conn):
    q(conn, "CREATE TABLE cdnow_orders (customer_id text, sample_id text, order_date date, cds int, amount numeric(10, 2))")
    with conn.cursor() as cur, open(CSV) as f:
        cur.copy_expert("COPY cdnow_orders FROM STDIN WITH (FORMAT csv, HEADER true)", f)
    orders = pd.read_csv(CSV, dtype={"customer_id": str, "sample_id": str}, parse_dates=["order_date"])
    # A copy with NULL amounts, refunds and more zeros planted (deterministic), and orders after the data ends.
    q(conn, """CREATE TABLE cdnow_messy AS
               SELECT customer_id, sample_id, order_date, cds,
                      CASE WHEN n % 17 = 0 THEN NULL WHEN n % 23 = 0 THEN -amount WHEN n % 29 = 0 THEN 0 ELSE amount END AS amount
               FROM (SELECT row_number() OVER (ORDER BY customer_id, order_date, amount) AS n, * FROM cdnow_orders) o
               UNION ALL SELECT '00004', '0001', '1998-08-01', 3, 99.99""")
    with conn.cursor() as cur:
        cur.execute("SELECT customer_id, sample_id, order_date, cds, amount FROM cdnow_messy")
        messy = pd.DataFrame(cur.fetchall(), columns=["customer_id", "sample_id", "order_date", "cds", "amount"])
    messy["order_date"] = pd.to_datetime(messy.order_date)
    messy["amount"] = messy.amount.astype(float)
    return orders, messy


def main():
    admin = connect()
    q(admin, f"DROP DATABASE IF EXISTS {DBNAME}")
    q(admin, f"CREATE DATABASE {DBNAME}")
    conn = connect(DBNAME)
    try:
        run(conn)
    finally:
        conn.close()
        q(admin, f"DROP DATABASE IF EXISTS {DBNAME}")
        admin.close()
    print(f"\n{checks - len(failures)} of {checks} checks passed")
    if failures:
        print("failed:\n  " + "\n  ".join(failures))
        sys.exit(1)


def run(conn):
    q(conn, "CREATE EXTENSION custseg")
    orders, messy = load_orders(conn)
    check(len(orders) == 2891 and orders.customer_id.nunique() == 1000, "CDNOW: 2,891 orders of 1,000 customers")
    for as_of in ("1998-07-01", "1997-12-31", "1997-03-15"):
        compare_rfm(conn, "cdnow_orders", orders, pd.Timestamp(as_of))
    compare_rfm(conn, "cdnow_orders", orders, pd.Timestamp("1998-07-01"), window_days=90, quantity=True)
    compare_rfm(conn, "cdnow_orders", orders, pd.Timestamp("1998-01-01"), window_days=30)
    compare_rfm(conn, "cdnow_orders", orders, pd.Timestamp("1998-07-01"), quantity=True)
    counts = (int(messy.amount.isna().sum()), int((messy.amount < 0).sum()), int((messy.amount == 0).sum()))
    check(min(counts) > 50, f"messy copy: NULL, negative and zero amounts planted {counts}")
    for as_of in ("1998-07-01", "1997-12-31"):
        compare_rfm(conn, "cdnow_messy", messy, pd.Timestamp(as_of))
    compare_rfm(conn, "cdnow_messy", messy, pd.Timestamp("1998-07-01"), window_days=60, quantity=True)

    # ---- A kept segment, and a listening application ----
    q(conn, """CREATE TABLE customers AS SELECT * FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1997-09-30');
               ALTER TABLE customers ADD PRIMARY KEY (customer_key)""")
    q(conn, "SELECT custseg_train('rfm', 'customers', k => 4, options => '{\"seed\": 42}')")
    q(conn, "SELECT custseg_keep_segment('customers', 'rfm')")
    listener = connect(DBNAME)
    q(listener, "LISTEN custseg_segment_changed")

    def differ():
        return q(conn, "SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(c, 'rfm')) FROM customers c")[0][0]

    def drain(expect_at_least):
        got, deadline = [], time.time() + 10
        while time.time() < deadline:
            if select.select([listener], [], [], 0.5) != ([], [], []):
                listener.poll()
                while listener.notifies:
                    got.append(listener.notifies.pop(0))
            elif len(got) >= expect_at_least:
                break
        return got

    def last_change_id():
        return q(conn, "SELECT coalesce(max(change_id), 0) FROM custseg_segment_changes")[0][0]

    def check_notifications(what, before, since_id, reason):
        after = dict(q(conn, "SELECT customer_key, segment FROM customers"))
        moved = {k for k, s in after.items() if k in before and before[k] != s}
        got = drain(len(moved))
        payloads = [json.loads(n.payload) for n in got]
        check(all(n.channel == "custseg_segment_changed" for n in got), f"{what}: notifications on custseg_segment_changed")
        keys = [p["customer_key"] for p in payloads]
        check(len(keys) == len(set(keys)) and set(keys) == moved,
              f"{what}: one notification per changed customer ({len(payloads)} for {len(moved)} changed)")
        check(all(p["from_segment"] == before[p["customer_key"]] and p["to_segment"] == after[p["customer_key"]]
                  and p["model"] == "rfm" and p["source"] == "public.customers" and p["reason"] == reason
                  for p in payloads), f"{what}: payloads name the customer, from, to, model, source and reason")
        log = q(conn, "SELECT change_id, customer_key, from_segment, to_segment, version FROM custseg_segment_changes "
                      "WHERE change_id > %s ORDER BY change_id", (since_id,))
        check(sorted((r[0], r[1], r[2], r[3], r[4]) for r in log) ==
              sorted((p["change_id"], p["customer_key"], p["from_segment"], p["to_segment"], p["version"]) for p in payloads),
              f"{what}: the log holds exactly the announced changes")
        labels = dict(q(conn, "SELECT segment, label FROM custseg_segments WHERE model = 'rfm'"))
        check(all(p["label"] == labels.get(p["to_segment"]) for p in payloads), f"{what}: payloads carry the new label")
        return len(moved)

    check(differ() == 0, "kept segment equals custseg_predict on every row after the fill")
    check(drain(0) == [], "the fill announces nothing")

    # Inserts: new customers get a segment, and are no change.
    q(conn, """INSERT INTO customers (customer_key, recency_days, frequency, monetary, monetary_avg, tenure_days)
               VALUES ('x1', 3, 12, 900, 75, 250), ('x2', 200, 1, 10, 10, 200)""")
    check(differ() == 0 and drain(0) == [], "inserted rows get their segment; inserts announce nothing")
    # Updates: every customer's features as of later dates, in one statement and then one by one.
    before, since = dict(q(conn, "SELECT customer_key, segment FROM customers")), last_change_id()
    q(conn, """UPDATE customers c SET recency_days = r.recency_days, frequency = r.frequency, monetary = r.monetary,
                                      monetary_avg = r.monetary_avg, tenure_days = r.tenure_days
               FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-03-31') r
               WHERE r.customer_key = c.customer_key""")
    check(differ() == 0, "kept segment equals custseg_predict on every row after a bulk update")
    n = check_notifications("bulk update", before, since, "update")
    check(n > 0, f"bulk update moved customers ({n})")
    before, since = dict(q(conn, "SELECT customer_key, segment FROM customers")), last_change_id()
    rows = q(conn, "SELECT customer_key, recency_days, frequency, monetary, monetary_avg, tenure_days "
                   "FROM custseg_rfm('cdnow_orders', 'customer_id', 'order_date', 'amount', '1998-06-30') ORDER BY 1 LIMIT 200")
    with conn.cursor() as cur:
        for r in rows:
            cur.execute("UPDATE customers SET recency_days = %s, frequency = %s, monetary = %s, monetary_avg = %s, "
                        "tenure_days = %s WHERE customer_key = %s", (*r[1:], r[0]))
    check(differ() == 0, "kept segment equals custseg_predict on every row after 200 single-row updates")
    check_notifications("single-row updates", before, since, "update")
    # A rolled-back change announces nothing.
    q(conn, "BEGIN; UPDATE customers SET recency_days = 0, frequency = 50, monetary = 5000; ROLLBACK")
    check(drain(0) == [], "a rolled-back update announces nothing")

    # Retrain on the changed table (the kept column is no feature), then re-score in batches.
    feats = q(conn, "SELECT custseg_model_json(model) -> 'features' FROM custseg_train('rfm', 'customers', k => 4, "
                    "options => '{\"seed\": 3}')")[0][0]
    check("segment" not in [f["name"] for f in feats], "the retrained model does not use the kept column")
    check(differ() > 0, "after the retrain, some stored segments are stale until re-scored")
    before, since = dict(q(conn, "SELECT customer_key, segment FROM customers")), last_change_id()
    q(conn, "SET client_min_messages = warning")
    q(conn, "CALL custseg_rescore('customers', 'rfm', batch_size => 97)")
    check(differ() == 0, "kept segment equals custseg_predict on every row after custseg_rescore")
    n = check_notifications("custseg_rescore", before, since, "rescore")
    m = q(conn, "SELECT coalesce(sum(customers), 0) FROM custseg_transitions('rfm', 1, 2) WHERE from_segment <> to_segment")[0][0]
    direct = q(conn, """SELECT count(*) FROM customers c, custseg_models a, custseg_models b
                        WHERE a.name = 'rfm' AND a.version = 1 AND b.name = 'rfm' AND b.version = 2
                          AND custseg_predict(a.model, c) <> custseg_predict(b.model, c)""")[0][0]
    check(m == direct, f"custseg_transitions' off-diagonal equals a direct count ({m}, {direct})")
    done = q(conn, "SELECT rescore_done, rescore_total, rescore_changed, version FROM custseg_kept_segments")[0]
    check(done[0] == done[1] == 1002 and done[2] == n and done[3] == 2,
          f"progress: every row re-scored, {n} changed, version 2 ({done})")
    # Retrained on the same rows with another seed: segments keep their numbers, a few customers move.
    q(conn, "SELECT custseg_train('rfm', 'customers', k => 4, options => '{\"seed\": 11}')")
    before, since = dict(q(conn, "SELECT customer_key, segment FROM customers")), last_change_id()
    q(conn, "CALL custseg_rescore('customers', batch_size => 250)")
    check(differ() == 0, "kept segment equals custseg_predict on every row after a second custseg_rescore")
    n = check_notifications("second custseg_rescore", before, since, "rescore")
    m = q(conn, "SELECT coalesce(sum(customers), 0) FROM custseg_transitions('rfm', 2, 3) WHERE from_segment <> to_segment")[0][0]
    check(0 <= n == m < 1002, f"second re-scoring moved {n} customers, the matrix's off-diagonal ({m})")
    listener.close()


if __name__ == "__main__":
    main()
