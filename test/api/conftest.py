"""Fixtures for custseg's API tests: a fresh database on the running PostgreSQL (the PG* variables,
as test/api/run.sh exports them) with the extension, a generated customer table, trained models and
offers; and the API itself, run by uvicorn in a subprocess on a free loopback port."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import http.client
import json
import socket as socket_

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "test" / "data"))
import gen_customers  # noqa: E402

DBNAME = "custseg_api_test"
ROWS = 1500
# Two customers far from every segment (in customers_odd only, added after its models were trained).
ODD = [{"customer_id": 900001, "age": 90, "annual_income": 400.0, "spending_score": 1.0, "visits_per_month": 60,
        "avg_basket": 900.0, "tenure_years": 60.0, "region": "east", "channel": "partner"},
       {"customer_id": 900002, "age": 18, "annual_income": 1.0, "spending_score": 100.0, "visits_per_month": 0,
        "avg_basket": 1.0, "tenure_years": 0.0, "region": "west", "channel": "mobile"}]


def sql(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall() if cur.description else None


@pytest.fixture(scope="session")
def dsn():
    with psycopg.connect(dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DBNAME}")
        admin.execute(f"CREATE DATABASE {DBNAME}")
    with psycopg.connect(dbname=DBNAME, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION custseg")
        cols = ", ".join(f"{c} {gen_customers.SQL_TYPES[c]}" for c in gen_customers.COLUMNS)
        conn.execute(f"CREATE TABLE customers ({cols}, PRIMARY KEY (customer_id))")
        rows = gen_customers.generate(ROWS, 3, 7)
        with conn.cursor().copy(f"COPY customers ({', '.join(gen_customers.COLUMNS)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row([r[c] for c in gen_customers.COLUMNS])
        conn.execute("SELECT custseg_train('customers', 'customers', k => 3, "
                     "exclude => ARRAY['customer_id', 'segment'], options => '{\"seed\": 42}')")
        # Two offers for every segment but the last, which has none (an empty offers list).
        conn.execute("""
            INSERT INTO custseg_offers (model, segment, title, details, discount_pct, priority, channel)
            SELECT 'customers', s.segment, o.title || ' ' || s.segment, 'details', o.pct, o.priority, o.channel
            FROM custseg_segments s,
                 (VALUES ('Second offer', 5.00, 20, 'email'), ('First offer', NULL, 10, 'app')) AS o(title, pct, priority, channel)
            WHERE s.model = 'customers' AND s.segment < (SELECT max(segment) FROM custseg_segments WHERE model = 'customers')""")
        # A disabled offer must never show.
        conn.execute("INSERT INTO custseg_offers (model, segment, title, enabled) VALUES ('customers', 0, 'Hidden', false)")
        # A second model on a view with fewer features, to retrain with other columns.
        conn.execute("CREATE VIEW customers_narrow AS SELECT customer_id, age, spending_score, region FROM customers")
        conn.execute("SELECT custseg_train('narrow', 'customers_narrow', k => 2, exclude => ARRAY['customer_id'], "
                     "options => '{\"seed\": 1}')")
        # The other methods, on a copy of the table that gains two far-off customers after training
        # (ODD: outliers of every segment, and dbscan's noise): a gmm model and a dbscan model (it
        # finds its own number of segments and eps), with offers for every dbscan segment.
        conn.execute("CREATE TABLE customers_odd (LIKE customers INCLUDING ALL)")
        conn.execute("INSERT INTO customers_odd SELECT * FROM customers")
        conn.execute("SELECT custseg_train('customers_gmm', 'customers_odd', k => 3, "
                     "exclude => ARRAY['customer_id', 'segment'], options => '{\"seed\": 42, \"method\": \"gmm\"}')")
        conn.execute("SELECT custseg_train('customers_dbscan', 'customers_odd', k => NULL, "
                     "exclude => ARRAY['customer_id', 'segment'], options => '{\"seed\": 42, \"method\": \"dbscan\"}')")
        conn.execute("""
            INSERT INTO custseg_offers (model, segment, title, priority)
            SELECT 'customers_dbscan', s.segment, 'Cluster offer ' || s.segment, 10
            FROM custseg_segments s WHERE s.model = 'customers_dbscan'""")
        with conn.cursor().copy(f"COPY customers_odd ({', '.join(gen_customers.COLUMNS)}) FROM STDIN") as cp:
            for r in ODD:
                cp.write_row([r.get(c) for c in gen_customers.COLUMNS])
    return f"dbname={DBNAME}"


@pytest.fixture(scope="session")
def db(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def base_url(dsn, tmp_path_factory):
    port = free_port()
    env = dict(os.environ, CUSTSEG_DATABASE_URL=dsn, CUSTSEG_MODEL="customers", CUSTSEG_BATCH_LIMIT="1000",
               CUSTSEG_SPEC_TTL="3600")  # retraining tests rely on the cached spec, not on its expiry
    # The API's log: where run.sh says, else in pytest's temporary directory (never a fixed /tmp file).
    log = open(Path(os.environ.get("CUSTSEG_API_LOG") or tmp_path_factory.mktemp("api") / "api.log"), "w")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "custseg_api.main:app", "--app-dir", str(ROOT / "api"),
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            if Client(url).get("/healthz").status_code == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"the API did not start; see {log.name}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


class Response:
    def __init__(self, status, body):
        self.status_code = status
        self.content = body
        self.text = body.decode()

    def json(self):
        return json.loads(self.content)


class Client:
    """A keep-alive HTTP/1.1 client that sends each request in one write with TCP_NODELAY, as
    production clients do (a client that writes headers and body apart meets Nagle's algorithm and
    the server's delayed ACK: 40 ms per request on Linux loopback)."""

    def __init__(self, base_url):
        host, port = base_url.rsplit("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def request(self, method, path, json_=None, content=None, headers=None):
        headers = dict(headers or {})
        if json_ is not None:
            content = json.dumps(json_).encode()
            headers["content-type"] = "application/json"
        for attempt in range(2):
            try:
                if self.conn.sock is None:
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket_.IPPROTO_TCP, socket_.TCP_NODELAY, 1)
                self.conn.request(method, path, body=content, headers=headers)
                r = self.conn.getresponse()
                return Response(r.status, r.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt:
                    raise

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, json=None, content=None, headers=None):
        return self.request("POST", path, json_=json, content=content, headers=headers)


@pytest.fixture(scope="session")
def client(base_url):
    c = Client(base_url)
    yield c
    c.conn.close()
