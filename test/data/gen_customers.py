#!/usr/bin/env python3
"""Synthetic customers with planted segments, for custseg's tests and benchmarks.

Six numeric columns (age, annual_income, spending_score, visits_per_month, avg_basket,
tenure_years) separate the segments; two categorical columns (region, channel) follow the segment
70% of the time; about 2% of annual_income and tenure_years are empty (NULL) to exercise mean
imputation. A rare channel, "partner" (3% of rows, unrelated to the segment), is the kind of
category that standardizing one-hot columns blows up into a dominant coordinate. The true segment
is in the column `segment`.

    gen_customers.py --rows 1500 --segments 3 --seed 1 --out customers.csv
"""
import argparse
import csv
import sys

import numpy as np

NUMERIC = ["age", "annual_income", "spending_score", "visits_per_month", "avg_basket", "tenure_years"]
# Segment centres (rows) for up to six segments, and the noise of each column.
CENTRES = np.array([
    [28, 30, 80, 10, 25, 2],
    [45, 70, 25, 3, 60, 8],
    [62, 120, 55, 6, 140, 15],
    [35, 95, 90, 14, 90, 4],
    [55, 40, 40, 2, 35, 20],
    [23, 55, 60, 18, 45, 1],
], dtype=float)
NOISE = np.array([3.0, 6.0, 5.0, 1.2, 8.0, 1.2])
REGIONS = ["north", "south", "east", "west"]
CHANNELS = ["online", "store", "mobile"]


def generate(rows, segments, seed):
    if not 1 <= segments <= len(CENTRES):
        raise SystemExit(f"--segments must be between 1 and {len(CENTRES)}")
    rng = np.random.default_rng(seed)
    truth = np.arange(rows) % segments
    rng.shuffle(truth)
    values = CENTRES[truth] + rng.normal(size=(rows, len(NUMERIC))) * NOISE
    values[:, 0] = np.clip(np.round(values[:, 0]), 18, 90)        # age: whole years
    values[:, 3] = np.clip(np.round(values[:, 3]), 0, None)        # visits: counts
    values[:, 2] = np.clip(values[:, 2], 1, 100)                   # score: 1..100
    values[:, 1:] = np.round(values[:, 1:], 2)
    missing_income = rng.random(rows) < 0.02
    missing_tenure = rng.random(rows) < 0.02
    out = []
    for i in range(rows):
        s = int(truth[i])
        region = REGIONS[s % len(REGIONS)] if rng.random() < 0.7 else REGIONS[rng.integers(len(REGIONS))]
        channel = CHANNELS[s % len(CHANNELS)] if rng.random() < 0.7 else CHANNELS[rng.integers(len(CHANNELS))]
        if rng.random() < 0.03:
            channel = "partner"
        row = {"customer_id": i + 1}
        for j, name in enumerate(NUMERIC):
            v = values[i, j]
            row[name] = int(v) if name in ("age", "visits_per_month") else float(v)
        if missing_income[i]:
            row["annual_income"] = None
        if missing_tenure[i]:
            row["tenure_years"] = None
        row["region"] = region
        row["channel"] = channel
        row["segment"] = s
        out.append(row)
    return out


COLUMNS = ["customer_id"] + NUMERIC + ["region", "channel", "segment"]

# SQL column types, for loading the CSV.
SQL_TYPES = {"customer_id": "integer", "age": "integer", "annual_income": "float8", "spending_score": "float8",
             "visits_per_month": "integer", "avg_basket": "float8", "tenure_years": "float8",
             "region": "text", "channel": "text", "segment": "integer"}


def write_csv(rows, f):
    w = csv.DictWriter(f, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r[k] is None else r[k]) for k in COLUMNS})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--segments", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="-")
    a = ap.parse_args()
    rows = generate(a.rows, a.segments, a.seed)
    if a.out == "-":
        write_csv(rows, sys.stdout)
    else:
        with open(a.out, "w", newline="") as f:
            write_csv(rows, f)


if __name__ == "__main__":
    main()
