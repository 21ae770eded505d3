"""The marketing console's endpoints against a real PostgreSQL: renaming segments, managing offers
(with the database's checks as 422s naming the field), versions with drift, the transition matrix
(equal to a direct count), recent changes of a kept segment, and a segment's customers as CSV (equal
to SQL). Uses a model of its own ("rfm", on the CDNOW orders) so the prediction tests are unaffected."""
import csv
import io
from pathlib import Path

import pytest

CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "cdnow_transactions.csv"


@pytest.fixture(scope="module")
def rfm(db):
    db.execute("DROP TABLE IF EXISTS rfm_orders, rfm_customers CASCADE")
    db.execute("CREATE TABLE rfm_orders (customer_id text, sample_id text, order_date date, cds int, amount numeric(10, 2))")
    with db.cursor().copy("COPY rfm_orders FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
        cp.write(CSV.read_bytes())
    db.execute("CREATE TABLE rfm_customers AS SELECT * FROM custseg_rfm('rfm_orders', 'customer_id', 'order_date', "
               "'amount', '1997-12-31'); ALTER TABLE rfm_customers ADD PRIMARY KEY (customer_key)")
    db.execute("SELECT custseg_train('rfm', 'rfm_customers', k => 4, options => '{\"seed\": 42}')")
    db.execute("SELECT custseg_keep_segment('rfm_customers', 'rfm')")
    db.execute("""UPDATE rfm_customers c SET recency_days = r.recency_days, frequency = r.frequency, monetary = r.monetary,
                  monetary_avg = r.monetary_avg, tenure_days = r.tenure_days
                  FROM custseg_rfm('rfm_orders', 'customer_id', 'order_date', 'amount', '1998-03-31') r
                  WHERE r.customer_key = c.customer_key""")
    db.execute("SELECT custseg_train('rfm', 'rfm_customers', k => 4, options => '{\"seed\": 42}')")
    db.execute("SET client_min_messages = warning; CALL custseg_rescore('rfm_customers', 'rfm')")
    return "rfm"


def rows(db, q, params=None):
    with db.cursor() as cur:
        cur.execute(q, params)
        return cur.fetchall()


def patch(client, path, body):
    return client.request("PATCH", path, json_=body)


def segments(db):
    return [r[0] for r in rows(db, "SELECT segment FROM custseg_segments WHERE model = 'rfm' ORDER BY 1")]


# ---- versions and transitions ----

def test_versions_with_drift(client, db, rfm):
    r = client.get("/models/rfm/versions")
    assert r.status_code == 200, r.text
    body = r.json()
    want = rows(db, "SELECT version, previous_version, active, drift_rows FROM custseg_drift('rfm') ORDER BY 1")
    assert [(v["version"], v["previous_version"], v["active"], v["drift_rows"]) for v in body["versions"]] == \
        [tuple(w) for w in want]
    assert all(v["k"] == 4 and v["silhouette"] > 0 and len(v["segments"]) == 4 for v in body["versions"])
    assert body["kept"][0]["source"] == "public.rfm_customers" and body["kept"][0]["version"] == 2
    assert client.get("/models/nosuchmodel/versions").status_code == 404


def test_transition_matrix_equals_direct_count(client, db, rfm):
    r = client.get("/models/rfm/transitions?from_version=1&to_version=2")
    assert r.status_code == 200, r.text
    body = r.json()
    direct = rows(db, """SELECT custseg_predict(a.model, c), custseg_predict(b.model, c), count(*)
                         FROM rfm_customers c, custseg_models a, custseg_models b
                         WHERE a.name = 'rfm' AND a.version = 1 AND b.name = 'rfm' AND b.version = 2
                         GROUP BY 1, 2 ORDER BY 1, 2""")
    assert [(c["from_segment"], c["to_segment"], c["customers"]) for c in body["cells"]] == [tuple(d) for d in direct]
    assert body["customers"] == 1000
    assert body["moved"] == sum(d[2] for d in direct if d[0] != d[1])
    for f in body["from_segments"]:
        assert sum(c["share"] for c in body["cells"] if c["from_segment"] == f) == pytest.approx(1)


def test_transitions_validation(client, rfm):
    r = client.get("/models/rfm/transitions?from_version=1")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "to_version"]
    r = client.get("/models/rfm/transitions?from_version=x&to_version=2")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from_version"]
    assert client.get("/models/rfm/transitions?from_version=1&to_version=9").status_code == 404


def test_changes(client, db, rfm):
    r = client.get("/changes?model=rfm&limit=5")
    assert r.status_code == 200
    got = r.json()["changes"]
    want = rows(db, "SELECT change_id, customer_key, from_segment, to_segment FROM custseg_segment_changes "
                    "WHERE model = 'rfm' ORDER BY change_id DESC LIMIT 5")
    assert [(c["change_id"], c["customer_key"], c["from_segment"], c["to_segment"]) for c in got] == [tuple(w) for w in want]
    assert client.get("/changes?model=rfm&limit=0").json()["detail"][0]["loc"] == ["query", "limit"]


# ---- renaming segments ----

def test_rename_and_restore(client, db, rfm):
    seg = segments(db)[0]
    r = patch(client, f"/segments/{seg}?model=rfm", {"label": "  Lapsed buyers  "})
    assert r.status_code == 200, r.text
    assert r.json()["label"] == "Lapsed buyers" and r.json()["label_generated"] is False
    assert rows(db, "SELECT label, label_generated FROM custseg_segments WHERE model = 'rfm' AND segment = %s",
                (seg,)) == [("Lapsed buyers", False)]
    r = patch(client, f"/segments/{seg}?model=rfm", {"label": None})
    assert r.status_code == 200 and r.json()["label_generated"] is True and r.json()["label"] != "Lapsed buyers"


@pytest.mark.parametrize("body,field", [({"label": ""}, "label"), ({"label": 3}, "label"), ({}, "label"),
                                        ({"label": "x", "extra": 1}, "extra"), ({"label": "x" * 201}, "label")])
def test_rename_validation(client, db, rfm, body, field):
    seg = segments(db)[0]
    r = patch(client, f"/segments/{seg}?model=rfm", body)
    assert r.status_code == 422, r.text
    assert ["body", field] in [e["loc"] for e in r.json()["detail"]]


def test_rename_unknown(client, rfm):
    assert patch(client, "/segments/99?model=rfm", {"label": "x"}).status_code == 404
    assert patch(client, "/segments/0?model=nosuchmodel", {"label": "x"}).status_code == 404


# ---- offers ----

def test_offer_lifecycle(client, db, rfm):
    seg = segments(db)[0]
    r = client.post("/offers?model=rfm", json={"segment": seg, "title": "Win back", "details": "20% off",
                                               "discount_pct": 20, "priority": 5, "channel": "email"})
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["model"] == "rfm" and offer["discount_pct"] == 20.0 and offer["enabled"] is True
    current = rows(db, "SELECT offer_id FROM custseg_segment_offers WHERE model = 'rfm' AND segment = %s", (seg,))
    assert (offer["offer_id"],) in current
    # Edit one field; the others stay.
    r = patch(client, f"/offers/{offer['offer_id']}", {"title": "Win back now"})
    assert r.status_code == 200 and r.json()["title"] == "Win back now" and r.json()["discount_pct"] == 20.0
    # A validity window in the future: scheduled, not current.
    r = patch(client, f"/offers/{offer['offer_id']}", {"valid_from": "2999-01-01T00:00:00Z", "valid_until": None})
    assert r.status_code == 200, r.text
    listed = {o["offer_id"]: o for o in client.get(f"/offers?model=rfm&segment={seg}").json()["offers"]}
    assert listed[offer["offer_id"]]["status"] == "scheduled"
    r = patch(client, f"/offers/{offer['offer_id']}", {"valid_from": "2000-01-01T00:00:00Z", "valid_until": "2001-01-01T00:00:00+02:00"})
    assert r.status_code == 200
    listed = {o["offer_id"]: o for o in client.get("/offers?model=rfm").json()["offers"]}
    assert listed[offer["offer_id"]]["status"] == "expired"
    r = patch(client, f"/offers/{offer['offer_id']}", {"valid_from": None, "valid_until": None, "enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    listed = {o["offer_id"]: o for o in client.get("/offers?model=rfm").json()["offers"]}
    assert listed[offer["offer_id"]]["status"] == "disabled"
    assert (offer["offer_id"],) not in rows(db, "SELECT offer_id FROM custseg_segment_offers WHERE model = 'rfm'")
    r = patch(client, f"/offers/{offer['offer_id']}", {"enabled": True})
    assert r.json()["enabled"] is True
    assert listed[offer["offer_id"]]["segment_label"] is not None


@pytest.mark.parametrize("body,field,database", [
    ({"title": ""}, "title", True),
    ({"title": "x", "discount_pct": 101}, "discount_pct", True),
    ({"title": "x", "discount_pct": -1}, "discount_pct", True),
    ({"title": "x", "valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"}, "valid_until", True),
    ({"title": "x", "discount_pct": "ten"}, "discount_pct", False),
    ({"title": "x", "priority": 1.5}, "priority", False),
    ({"title": "x", "valid_from": "yesterday"}, "valid_from", False),
    ({"title": "x", "valid_from": "2026-01-01T00:00:00"}, "valid_from", False),
    ({"title": "x", "enabled": "yes"}, "enabled", False),
    ({"title": "x", "colour": "red"}, "colour", False),
    ({"details": "no title"}, "title", False),
    ({"title": "x", "segment": 99}, "segment", False),
    ({"title": "x", "segment": "one"}, "segment", False),
])
def test_offer_validation(client, db, rfm, body, field, database):
    body = {"segment": segments(db)[0], **body}
    before = rows(db, "SELECT count(*) FROM custseg_offers")[0][0]
    r = client.post("/offers?model=rfm", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert ["body", field] in [e["loc"] for e in errors], errors
    if database:  # the database's own check, its message shown
        assert any("violates check constraint" in e["msg"] and e["type"] == "value_error.database" for e in errors)
    assert rows(db, "SELECT count(*) FROM custseg_offers")[0][0] == before


def test_offer_edit_validation(client, db, rfm):
    seg = segments(db)[0]
    oid = client.post("/offers?model=rfm", json={"segment": seg, "title": "Edit me"}).json()["offer_id"]
    for body, field in [({"title": ""}, "title"), ({"title": None}, "title"), ({"discount_pct": 500}, "discount_pct"),
                        ({"valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"}, "valid_until"),
                        ({"priority": None}, "priority"), ({"segment": 1}, "segment")]:
        r = patch(client, f"/offers/{oid}", body)
        assert r.status_code == 422, (body, r.text)
        assert ["body", field] in [e["loc"] for e in r.json()["detail"]], (body, r.text)
    assert rows(db, "SELECT title FROM custseg_offers WHERE offer_id = %s", (oid,)) == [("Edit me",)]
    assert patch(client, "/offers/999999", {"title": "x"}).status_code == 404
    assert client.post("/offers?model=nosuchmodel", json={"segment": 0, "title": "x"}).status_code == 404


# ---- a segment's customers as CSV ----

def test_segment_csv_equals_sql(client, db, rfm):
    seg = segments(db)[1]
    db.execute("INSERT INTO custseg_offers (model, segment, title, priority) VALUES ('rfm', %s, 'Second; with a semicolon', 20), "
               "('rfm', %s, 'First, with \"quotes\"', 10)", (seg, seg))
    r = client.get(f"/segments/{seg}/customers.csv?model=rfm")
    assert r.status_code == 200, r.text
    got = list(csv.DictReader(io.StringIO(r.text)))
    want = rows(db, "SELECT customer_key FROM rfm_customers c WHERE custseg_predict(c, 'rfm') = %s ORDER BY 1", (seg,))
    assert [g["customer_key"] for g in got] == [w[0] for w in want] and got
    assert list(got[0]) == ["customer_key", "recency_days", "frequency", "monetary", "monetary_avg", "tenure_days",
                            "segment", "segment_label", "offer_ids", "offer_titles"]  # the kept column is left out
    offers = rows(db, "SELECT string_agg(offer_id::text, ';' ORDER BY offer_rank), string_agg(title, ';' ORDER BY offer_rank) "
                      "FROM custseg_segment_offers WHERE model = 'rfm' AND segment = %s", (seg,))[0]
    assert all(g["segment"] == str(seg) and g["offer_ids"] == offers[0] and g["offer_titles"] == offers[1] for g in got)
    assert got[0]["offer_titles"].startswith('First, with "quotes"')
    label = rows(db, "SELECT label FROM custseg_segments WHERE model = 'rfm' AND segment = %s", (seg,))[0][0]
    assert all(g["segment_label"] == label for g in got)
    assert client.get("/segments/99/customers.csv?model=rfm").status_code == 404
    assert client.get("/segments/x/customers.csv?model=rfm").status_code == 422
