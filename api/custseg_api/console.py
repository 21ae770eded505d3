"""The marketing console's endpoints: rename segments, manage offers, versions with their drift, the
transition matrix between two versions, recent segment changes, and a segment's customers as CSV.

They sit beside the prediction endpoints (main.py) and use its pool and error mapping. Writes go to
custseg_segments and custseg_offers as the API's database role, so row security decides: a role that
is not a member of the model's owner role gets a 403. Request bodies are pydantic models that forbid
unknown keys, so a 422 names the field, as for /predict; the database's own checks (an empty title,
a discount outside 0-100, a validity window that ends before it starts) come back as a 422 naming
the field the constraint is about, with the database's message.
"""
import datetime as dt
from typing import Any, Dict, List, Optional

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import Response
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, Extra, Field, StrictBool, StrictInt, StrictStr, validator

from . import main

router = APIRouter()

# custseg_offers' constraints: the field each checks, and its rule in words.
OFFER_CONSTRAINTS = {
    "custseg_offers_title_check": ("title", "the title must not be empty"),
    "custseg_offers_discount_pct_check": ("discount_pct", "the discount must be between 0 and 100"),
    "custseg_offers_segment_check": ("segment", "the segment must not be negative"),
    "custseg_offers_check": ("valid_until", "valid_until must be after valid_from"),
}
OFFER_COLUMNS = ("offer_id, model, segment, title, details, discount_pct, priority, valid_from, valid_until, "
                 "channel, enabled, created_at")
LABEL_MAX = 200
TITLE_MAX = 200
CHANGES_LIMIT = 500


class Forbid:
    extra = Extra.forbid


def _field_error(field: str, msg: str, typ: str = "value_error") -> HTTPException:
    return HTTPException(422, [{"loc": ["body", field], "msg": msg, "type": typ}])


def _write_error(e: psycopg.Error, constraints: Dict[str, str]) -> HTTPException:
    """A database error of a write: a check or NOT NULL violation names its field (422), row
    security or a missing privilege is a 403, the rest as for reads."""
    state = getattr(e.diag, "sqlstate", None) or ""
    msg = e.diag.message_primary or str(e)
    if state == "23514":  # check_violation
        field, rule = constraints.get(e.diag.constraint_name or "", ("body", None))
        return _field_error(field, f"{rule}: {msg}" if rule else msg, "value_error.database")
    if state == "23502":  # not_null_violation
        return _field_error(e.diag.column_name or "body", msg, "value_error.database")
    if state == "22003":  # numeric_value_out_of_range (numeric(5,2) overflow)
        return _field_error("discount_pct", msg, "value_error.database")
    if state == "42501":
        return HTTPException(403, msg)
    return main._db_error(e)


async def _write(query, params, constraints=OFFER_CONSTRAINTS) -> List[Dict[str, Any]]:
    try:
        async with main.pool.connection() as conn:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query, params)
                return await cur.fetchall() if cur.description else []
    except psycopg.Error as e:
        raise _write_error(e, constraints) from e


async def _model_exists(name: str) -> None:
    rows = await main.fetch("SELECT 1 FROM custseg_models WHERE name = %s LIMIT 1", (name,))
    if not rows:
        raise HTTPException(404, f"model {name!r} does not exist")


async def _segment_exists(name: str, segment: int, field: Optional[str] = None) -> None:
    rows = await main.fetch("SELECT 1 FROM custseg_segments WHERE model = %s AND segment = %s", (name, segment))
    if not rows:
        msg = f"model {name!r} has no segment {segment}"
        raise _field_error(field, msg) if field else HTTPException(404, msg)


# ---- Segments: rename ----

class SegmentPatch(BaseModel):
    label: Optional[StrictStr] = Field(..., description="the new label; null gives the generated label back")

    Config = Forbid

    @validator("label")
    def _label(cls, v):
        if v is not None:
            v = v.strip()
            if not v:
                raise ValueError("the label must not be empty (null restores the generated label)")
            if len(v) > LABEL_MAX:
                raise ValueError(f"at most {LABEL_MAX} characters")
        return v


@router.patch("/segments/{segment}", tags=["console"])
async def rename_segment(patch: SegmentPatch, segment: int = Path(..., ge=0),
                         model: Optional[str] = Query(None, description="model name")):
    """Renames a segment (kept across retraining); `"label": null` gives the generated label back."""
    name = model or main.DEFAULT_MODEL
    await _model_exists(name)
    await _segment_exists(name, segment)
    if patch.label is None:
        # The generated label comes back at the next refresh; refresh now so that it shows.
        rows = await _write("UPDATE custseg_segments SET label_generated = true WHERE model = %s AND segment = %s "
                            "RETURNING segment", (name, segment))
        if rows:
            await _write("SELECT count(*) FROM custseg_refresh_segments(%s)", (name,))
    else:
        rows = await _write("UPDATE custseg_segments SET label = %s WHERE model = %s AND segment = %s RETURNING segment",
                            (patch.label, name, segment))
    if not rows:
        raise HTTPException(403, f"permission denied for custseg model {name!r}: the segment was not changed")
    out = await main.fetch("SELECT segment, label, label_generated, description, size, share, version "
                           "FROM custseg_segments WHERE model = %s AND segment = %s", (name, segment))
    return out[0]


# ---- Offers ----

class OfferFields(BaseModel):
    title: Optional[StrictStr] = Field(None, description="what the customer sees (required, not empty)")
    details: Optional[StrictStr] = None
    discount_pct: Optional[float] = Field(None, description="0-100, optional")
    priority: Optional[StrictInt] = Field(None, description="lower comes first (default 100)")
    valid_from: Optional[dt.datetime] = Field(None, description="ISO 8601; null: valid from now")
    valid_until: Optional[dt.datetime] = Field(None, description="ISO 8601, after valid_from; null: no end")
    channel: Optional[StrictStr] = None
    enabled: Optional[StrictBool] = None

    Config = Forbid

    @validator("discount_pct", pre=True)
    def _number(cls, v):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise TypeError("value is not a number")
        return v

    @validator("title")
    def _title(cls, v):
        if v is not None and len(v) > TITLE_MAX:
            raise ValueError(f"at most {TITLE_MAX} characters")
        return v

    @validator("valid_from", "valid_until")
    def _aware(cls, v):
        if v is not None and v.tzinfo is None:
            raise ValueError("a time with its UTC offset (e.g. 2026-01-01T00:00:00Z)")
        return v


class OfferCreate(OfferFields):
    segment: StrictInt = Field(..., description="the segment the offer is for")
    title: StrictStr = Field(..., description="what the customer sees (not empty)")


def _offer_rows(rows):
    for r in rows:
        r["discount_pct"] = float(r["discount_pct"]) if r["discount_pct"] is not None else None
    return rows


OFFER_STATUS = """CASE WHEN NOT o.enabled THEN 'disabled'
                       WHEN o.valid_from IS NOT NULL AND o.valid_from > now() THEN 'scheduled'
                       WHEN o.valid_until IS NOT NULL AND o.valid_until <= now() THEN 'expired'
                       ELSE 'current' END AS status"""


@router.get("/offers", tags=["console"])
async def list_offers(model: Optional[str] = Query(None, description="model name"),
                      segment: Optional[int] = Query(None, ge=0, description="only this segment's offers")):
    """Every offer of a model (disabled, scheduled and expired ones too), with its status."""
    name = model or main.DEFAULT_MODEL
    await _model_exists(name)
    rows = await main.fetch(
        f"SELECT {', '.join('o.' + c.strip() for c in OFFER_COLUMNS.split(','))}, s.label AS segment_label, {OFFER_STATUS} "
        "FROM custseg_offers o LEFT JOIN custseg_segments s ON s.model = o.model AND s.segment = o.segment "
        "WHERE o.model = %s AND (%s::int IS NULL OR o.segment = %s) ORDER BY o.segment, o.priority, o.offer_id",
        (name, segment, segment))
    return {"model": name, "offers": _offer_rows(rows)}


@router.post("/offers", status_code=201, tags=["console"])
async def create_offer(offer: OfferCreate, model: Optional[str] = Query(None, description="model name")):
    """Creates an offer for a segment; the database checks title, discount and the validity window."""
    name = model or main.DEFAULT_MODEL
    await _model_exists(name)
    await _segment_exists(name, offer.segment, "segment")
    values = offer.dict(exclude_unset=True)
    cols = ["model"] + list(values)
    q = sql.SQL("INSERT INTO custseg_offers ({}) VALUES ({}) RETURNING {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        sql.SQL(", ").join(sql.Placeholder(c) for c in cols), sql.SQL(OFFER_COLUMNS))
    rows = await _write(q, {"model": name, **values})
    return _offer_rows(rows)[0]


@router.patch("/offers/{offer_id}", tags=["console"])
async def edit_offer(patch: OfferFields, offer_id: int = Path(..., ge=1)):
    """Changes the given fields of an offer (`{"enabled": false}` disables it)."""
    values = patch.dict(exclude_unset=True)
    if "title" in values and values["title"] is None:
        raise _field_error("title", "an offer needs a title", "value_error.missing")
    if "priority" in values and values["priority"] is None:
        raise _field_error("priority", "priority must be an integer (lower comes first)", "type_error")
    if "enabled" in values and values["enabled"] is None:
        raise _field_error("enabled", "enabled must be true or false", "type_error")
    found = await main.fetch("SELECT model FROM custseg_offers WHERE offer_id = %s", (offer_id,))
    if not found:
        raise HTTPException(404, f"offer {offer_id} does not exist")
    if not values:
        rows = await main.fetch(f"SELECT {OFFER_COLUMNS} FROM custseg_offers WHERE offer_id = %s", (offer_id,))
        return _offer_rows(rows)[0]
    q = sql.SQL("UPDATE custseg_offers SET {} WHERE offer_id = %(offer_id)s RETURNING {}").format(
        sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in values),
        sql.SQL(OFFER_COLUMNS))
    rows = await _write(q, {"offer_id": offer_id, **values})
    if not rows:
        raise HTTPException(403, f"permission denied for the offers of custseg model {found[0]['model']!r}")
    return _offer_rows(rows)[0]


# ---- Versions, drift and transitions ----

@router.get("/models/{name}/versions", tags=["console"])
async def versions(name: str):
    """Every version of a model with its lineage and drift (custseg_drift) and its main metrics."""
    rows = await main.fetch("""
        SELECT d.version, d.previous_version, d.created_at, d.active, d.matched_segments, d.new_segments,
               d.vanished_segments, d.drift_rows, d.drift_share,
               (m.options ->> 'k')::int AS k, (m.metrics ->> 'rows_used')::bigint AS rows_used,
               (m.metrics ->> 'silhouette')::float8 AS silhouette, (m.metrics ->> 'inertia')::float8 AS inertia,
               ARRAY(SELECT jsonb_array_elements_text(custseg_model_json(m.model) #> '{kmeans,segments}')::int) AS segments
        FROM custseg_drift(%s) d JOIN custseg_models m ON m.name = %s AND m.version = d.version
        ORDER BY d.version""", (name, name))
    kept = await main.fetch("SELECT source, column_name, version, rescore_version, rescore_done, rescore_total, "
                            "rescore_changed, rescore_finished_at FROM custseg_kept_segments WHERE model = %s "
                            "ORDER BY source, column_name", (name,))
    return {"model": name, "versions": rows, "kept": kept}


@router.get("/models/{name}/transitions", tags=["console"])
async def transitions(name: str, from_version: int = Query(..., ge=1), to_version: int = Query(..., ge=1)):
    """The transition matrix between two versions (custseg_transitions): both score the later version's source."""
    rows = await main.fetch("SELECT from_segment, to_segment, customers, share, from_label, to_label "
                            "FROM custseg_transitions(%s, %s, %s)", (name, from_version, to_version))
    total = sum(r["customers"] for r in rows)
    moved = sum(r["customers"] for r in rows if r["from_segment"] != r["to_segment"])
    return {"model": name, "from_version": from_version, "to_version": to_version, "customers": total,
            "moved": moved, "from_segments": sorted({r["from_segment"] for r in rows}),
            "to_segments": sorted({r["to_segment"] for r in rows}), "cells": rows}


@router.get("/changes", tags=["console"])
async def changes(model: Optional[str] = Query(None, description="model name"),
                  limit: int = Query(50, ge=1, le=CHANGES_LIMIT, description="most recent changes")):
    """The most recent changes of kept segments (custseg_segment_changes), newest first."""
    name = model or main.DEFAULT_MODEL
    rows = await main.fetch("SELECT change_id, source, customer_key, from_segment, to_segment, version, reason, "
                            "changed_at FROM custseg_segment_changes WHERE model = %s "
                            "ORDER BY change_id DESC LIMIT %s", (name, limit))
    return {"model": name, "changes": rows}


# ---- A segment's customers as CSV ----

@router.get("/segments/{segment}/customers.csv", tags=["console"], response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
async def segment_customers_csv(segment: int = Path(..., ge=0), model: Optional[str] = Query(None, description="model name")):
    """The model's source rows in a segment (under the active version), with the segment's label and its
    current offers (ids and titles in rank order, separated by ';'), as CSV with a header."""
    name = model or main.DEFAULT_MODEL
    spec = await main.get_spec(name)
    await _segment_exists(name, segment)
    cols = await main.fetch("""
        SELECT a.attname::text AS name FROM pg_attribute a
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname::text NOT IN (SELECT k.column_name FROM custseg_kept_segments k
                                      WHERE to_regclass(k.source) = %s::regclass)
        ORDER BY a.attnum""", (spec.source, spec.source))
    src = (await main.fetch("SELECT %s::regclass::text AS src", (spec.source,)))[0]["src"]
    q = sql.SQL("""
        COPY (SELECT {cols}, p.segment, s.label AS segment_label, o.offer_ids, o.offer_titles
              FROM {src} t
              CROSS JOIN LATERAL (SELECT custseg_predict(t, {name}) AS segment) p
              LEFT JOIN custseg_segments s ON s.model = {name} AND s.segment = p.segment
              LEFT JOIN LATERAL (SELECT string_agg(so.offer_id::text, ';' ORDER BY so.offer_rank) AS offer_ids,
                                        string_agg(so.title, ';' ORDER BY so.offer_rank) AS offer_titles
                                 FROM custseg_segment_offers so WHERE so.model = {name} AND so.segment = p.segment) o ON true
              WHERE p.segment = {segment}
              ORDER BY 1)
        TO STDOUT WITH (FORMAT csv, HEADER true)""").format(
        cols=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c["name"])) for c in cols),
        src=sql.SQL(src), name=sql.Literal(name), segment=sql.Literal(segment))
    chunks = []
    try:
        async with main.pool.connection() as conn:
            async with conn.cursor() as cur:
                async with cur.copy(q) as copy:
                    async for data in copy:
                        chunks.append(bytes(data))
    except psycopg.Error as e:
        raise main._db_error(e) from e
    filename = f"{name}-segment-{segment}-v{spec.version}.csv".replace('"', "")
    return Response(b"".join(chunks), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
