#!/usr/bin/env python3
"""Runs SQLsmith's random queries against the resilience database and judges what custseg did.

SQLsmith (Debian's `sqlsmith`) generates --generate statements from --seed over every table, view,
function, aggregate and operator in the catalog (`--dry-run`: it writes them, this script runs
them); the first --queries of them run, those that call custseg (its functions, the views that
call them) first, then those that touch its tables or type, and none that casts to a polymorphic pseudo-type (they cannot parse).
Each statement runs on one connection in a transaction that is rolled back afterwards (so
its INSERT, UPDATE, DELETE and MERGE change nothing and the next statement sees the same database),
under the database's statement_timeout. With track_functions = all, the transaction's own function
statistics tell whether the statement called any of the extension's functions (a call counts from
its start, so one that raised an error counts too): that is "reached custseg".

Fails (exit 1) on:
  - a lost connection (a crashed backend; the wrapper also checks the server log for a crash,
    PANIC and a failed assertion, TRAP:),
  - an XX000 (internal_error) raised by custseg in a statement that reached it: from its C++
    sources, or from PostgreSQL code its SQL functions called (the error context names them);
    custseg's errors have their own SQLSTATEs. PostgreSQL's own internal errors in such a statement
    (SQLsmith calls internal support functions such as float8_var_samp with arbitrary arrays) are
    printed, not failed on.
Writes every such statement to --failures. Prints the counts: generated, run, reached custseg, and
the SQLSTATEs of the errors raised in statements that reached custseg.

    sqlsmith_run.py --dsn "host=... dbname=smith user=smith" --seed 1 --queries 2000 --failures F
"""
import argparse
import collections
import re
import subprocess
import sys
import time

import psycopg

REACHED = """
SELECT coalesce(array_agg(p.proname::text ORDER BY p.proname), '{}')
FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc p ON p.oid = d.objid
WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'custseg')
  AND pg_catalog.pg_stat_get_xact_function_calls(p.oid) IS NOT NULL"""


PSEUDO = re.compile(r"\bany(range|multirange|enum|array|element|nonarray|compatible\w*)\b")


def generate(dsn, seed, n, mention, registry):
    """SQLsmith's first n statements for the seed: those that call custseg first, then those that
    touch its tables (whose triggers are custseg's), then the rest, each group in order."""
    out = subprocess.run(["sqlsmith", f"--target={dsn}", f"--seed={seed}", f"--max-queries={n}", "--dry-run"],
                         check=True, capture_output=True, text=True).stdout
    qs = [q.strip() for q in out.split(";\n") if q.strip()]
    # SQLsmith 1.4 takes PostgreSQL's polymorphic pseudo-types for real ones (a cast to anyrange, an
    # anymultirange operand): such statements always fail in the parser, so they are not run.
    usable = [q for q in qs if not PSEUDO.search(q)]
    calls = [q for q in usable if mention.search(q)]
    tables = [q for q in usable if not mention.search(q) and registry.search(q)]
    return qs, calls + tables + [q for q in usable if not mention.search(q) and not registry.search(q)]


def connect(dsn, deadline=60.0):
    t0 = time.monotonic()
    while True:
        try:
            return psycopg.connect(dsn)
        except psycopg.OperationalError:
            if time.monotonic() - t0 > deadline:
                raise
            time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=2000, help="statements run")
    ap.add_argument("--generate", type=int, default=0,
                    help="statements generated (default 3 x --queries); those that mention custseg run first")
    ap.add_argument("--failures", default="sqlsmith-failures.sql")
    ap.add_argument("--progress", type=int, default=0, help="print a line every N statements")
    a = ap.parse_args()

    conn = connect(a.dsn)
    # What calls custseg: its functions and type, and the views whose definitions call its functions.
    views = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relkind = 'v' "
        "AND pg_catalog.pg_get_viewdef(c.oid) ~ 'custseg_[a-z_]+\\('").fetchall()]
    conn.rollback()
    mention = re.compile(r"custseg_\w+\s*\(" + "".join(rf"|\.{re.escape(v)}\b" for v in views))
    registry = re.compile(r"\bcustseg_(models|segments|offers|model_names)\b|custseg_model\b")
    t0 = time.monotonic()
    generated, queries = generate(a.dsn, a.seed, a.generate or 3 * a.queries, mention, registry)
    queries = queries[:a.queries]
    t_gen = time.monotonic() - t0
    reached = 0
    functions = collections.Counter()
    states = collections.Counter()
    all_states = collections.Counter()
    failures = []
    others = []
    t0 = time.monotonic()
    for i, q in enumerate(queries):
        if a.progress and i and i % a.progress == 0:
            print(f"sqlsmith: {i} statements, {reached} reached custseg, {time.monotonic() - t0:.0f} s", flush=True)
        err = None
        try:
            with conn.cursor() as cur:
                cur.execute("SAVEPOINT q")
                try:
                    cur.execute(q, prepare=False)
                    if cur.description is not None:
                        cur.fetchmany(100)
                except psycopg.Error as e:
                    if conn.broken:
                        raise
                    err = e
                    cur.execute("ROLLBACK TO SAVEPOINT q")
                # The bookkeeping is not under test. A statement that ended just as its timeout
                # fired can leave the cancel to the next command (a loaded machine): retry then.
                for attempt in range(3):
                    try:
                        cur.execute("SET LOCAL statement_timeout = 0")
                        cur.execute(REACHED)
                        names = cur.fetchone()[0]
                        break
                    except psycopg.errors.QueryCanceled:
                        if attempt == 2:
                            raise
                        cur.execute("ROLLBACK TO SAVEPOINT q")
            conn.rollback()
            conn.execute("SELECT pg_catalog.pg_stat_force_next_flush()")
            conn.commit()
        except psycopg.Error as e:
            if not conn.broken:
                raise
            failures.append(("lost connection (crashed backend?)", str(e), q))
            try:
                conn.close()
            except Exception:
                pass
            conn = connect(a.dsn)
            continue
        state = err.sqlstate if err is not None else None
        if state:
            all_states[state] += 1
        if names:
            reached += 1
            functions.update(names)
            if state:
                states[state] += 1
            if state == "XX000":
                d = err.diag
                detail = (f"{d.message_primary} (at {d.source_file}:{d.source_line} {d.source_function}) "
                          f"context: {d.context}")
                # custseg's C++ sources, or PostgreSQL code that custseg's SQL functions called.
                if (d.source_file or "").endswith((".cpp", ".h")) or "custseg_" in (d.context or ""):
                    failures.append(("XX000 raised by custseg", detail, q))
                else:  # PostgreSQL's own internal error in the same statement: noted, not custseg's
                    others.append((detail, q))
    t_run = time.monotonic() - t0
    conn.close()

    print(f"sqlsmith: seed {a.seed}: {len(generated)} statements generated ({t_gen:.0f} s), "
          f"{sum(1 for q in generated if mention.search(q))} of them mention custseg; {len(queries)} run in {t_run:.0f} s; "
          f"{reached} reached a custseg function; {sum(all_states.values())} raised errors")
    print("sqlsmith: custseg functions reached (statements): " +
          ", ".join(f"{k} {v}" for k, v in functions.most_common()))
    print("sqlsmith: errors in statements that reached custseg, by SQLSTATE: " +
          (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"))
    for detail, q in others:
        print(f"sqlsmith: note: PostgreSQL's own XX000 in a statement that also reached custseg: {detail}")
    with open(a.failures, "w") as f:
        for kind, detail, q in failures:
            f.write(f"-- {kind}: {detail}\n{q};\n\n")
    if failures:
        for kind, detail, q in failures[:20]:
            print(f"sqlsmith: FAILED: {kind}: {detail}\n{q[:2000]}\n", file=sys.stderr)
        print(f"sqlsmith: {len(failures)} failing statements written to {a.failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
