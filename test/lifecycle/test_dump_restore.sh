#!/usr/bin/env bash
# pg_dump -Fc and pg_restore of a database with custseg models (several versions, two names, one
# owned by an ordinary role), segments with a renamed label, offers, views made by
# custseg_create_views, a plain table with a custseg_model column, and a kept segment with recorded
# transitions: the restored database has bit-identical models (binary and text forms), the same
# registry, segments, offers, kept segment and transitions (which go on being recorded), and the same
# prediction for every row under every model and through every view (fingerprint.sql, diffed). Also
# a binary COPY of models out and back in. Needs the extension installed (make install); ~15 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
data=$(cd .. && pwd)/shared/data/mall_customers.csv
work=$CUSTSEG_PGDIR/dump
mkdir -p "$work" && chmod 777 "$work"
fail() { echo "test_dump_restore: FAIL: $*" >&2; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

q -c "CREATE DATABASE src"
q -d src -c "CREATE EXTENSION custseg"
q -d src -f test/lifecycle/fixture.sql <"$data"
# A model of an ordinary role (row security keeps it from others; the superuser's dump has it all).
q -d src <<'SQL'
CREATE ROLE dana LOGIN;
GRANT SELECT ON mall TO dana;
SET ROLE dana;
SELECT version FROM custseg_train('dana_model', 'public.mall', k => 2, options => '{"seed": 11}') \g /dev/null
INSERT INTO custseg_offers (model, segment, title) VALUES ('dana_model', 1, 'dana''s offer');
RESET ROLE;
SQL
# A kept segment with recorded transitions, and the labels of every version (customers in motion).
q -d src <<'SQL' >/dev/null
CREATE TABLE kept AS SELECT * FROM mall;
ALTER TABLE kept ADD PRIMARY KEY (customer_id);
SELECT custseg_keep_segment('kept', 'mall');
UPDATE kept SET spending_score = 101 - spending_score WHERE customer_id < '0100';
SQL
kept_state() {  # the kept column, its registration and the transitions, one line each
  q -d "$1" -c "SELECT 'kept ' || md5(string_agg(customer_id || '=' || segment, ',' ORDER BY customer_id)) FROM kept" \
    -c "SELECT 'registration ' || k::text FROM custseg_kept_segments k" \
    -c "SELECT 'change ' || (c.change_id, c.model, c.source, c.customer_key, c.from_segment, c.to_segment, c.version, c.reason)::text
        FROM custseg_segment_changes c ORDER BY change_id" \
    -c "SELECT DISTINCT ON (model, version, segment) 'label ' || model || ' v' || version || ' ' || segment || ' ' || coalesce(label, '-')
        FROM custseg_segment_labels ORDER BY model, version, segment, recorded_at DESC"
}

# The binary form through COPY: out and back in gives the same bytes.
q -d src -c "\copy (SELECT id, model FROM saved ORDER BY id) TO '$work/saved.bin' WITH (FORMAT binary)"
q -d src -c "CREATE TABLE saved_back (id int, model custseg_model)" \
  -c "\copy saved_back FROM '$work/saved.bin' WITH (FORMAT binary)"
same=$(q -d src -c "SELECT count(*) FROM saved s JOIN saved_back b USING (id)
                    WHERE custseg_model_send(s.model) = custseg_model_send(b.model) AND s.model::text = b.model::text")
[[ $same == 3 ]] || fail "binary COPY round trip kept $same of 3 models"
# A binary value whose feature name is not valid UTF-8 would be written by pg_dump and refused by
# the restore: recv refuses it (22P03) instead.
q -d src -c "SELECT encode(custseg_model_send(model), 'hex') FROM saved WHERE note = 'default'" |
  /usr/bin/python3 -c '
import struct, sys
body = bytes.fromhex(sys.stdin.read().strip()).replace(b"gender", b"gend\xffr", 1)
sys.stdout.buffer.write(b"PGCOPY\n\xff\r\n\0" + struct.pack("!ii", 0, 0) + struct.pack("!hi", 1, len(body)) + body
                        + struct.pack("!h", -1))' >"$work/bad_name.bin"
out=$(psql -X -q -d src -v VERBOSITY=verbose -c "\copy saved_back (model) FROM '$work/bad_name.bin' WITH (FORMAT binary)" 2>&1) &&
  fail "a model with an invalid UTF-8 name was accepted"
grep -q "22P03.*not valid in the database encoding" <<<"$out" || fail "invalid UTF-8 name: $out"
q -d src -c "DROP TABLE saved_back"

start=$SECONDS
as_postgres "$PG_BIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -Fc -f "$work/src.dump" src
q -c "CREATE DATABASE dst"
as_postgres "$PG_BIN/pg_restore" -h "$PGHOST" -p "$PGPORT" --exit-on-error -d dst "$work/src.dump" ||
  fail "pg_restore failed"
echo "test_dump_restore: dump and restore took $((SECONDS - start)) s"

q -d src -f test/lifecycle/fingerprint.sql >"$work/src.txt"
q -d dst -f test/lifecycle/fingerprint.sql >"$work/dst.txt"
n=$(grep -c . "$work/src.txt")
((n > 30)) || fail "the fingerprint has only $n lines"
diff -u "$work/src.txt" "$work/dst.txt" || fail "the restored database differs (above)"
grep -q '^model dana_model v1 ' "$work/dst.txt" || fail "the ordinary role's model was not dumped"
[[ $(q -d dst -c "SELECT owner FROM custseg_models WHERE name = 'dana_model'") == dana ]] || fail "owner not restored"
[[ $(q -d dst -c "SELECT label FROM custseg_segments WHERE model = 'mall' AND segment = 1") == 'VIP "gold" customers' ]] ||
  fail "the renamed label was not restored"
kept_state src >"$work/kept-src.txt"
kept_state dst >"$work/kept-dst.txt"
(($(grep -c '^change ' "$work/kept-src.txt") > 0)) || fail "the fixture recorded no transitions"
diff -u "$work/kept-src.txt" "$work/kept-dst.txt" || fail "the kept segment or its transitions differ after restore (above)"
# The restored kept table still keeps its segment, and records changes numbered after the restored ones.
q -d dst -c "UPDATE kept SET spending_score = 101 - spending_score" >/dev/null
[[ $(q -d dst -c "SELECT count(*) FILTER (WHERE segment IS DISTINCT FROM custseg_predict(k, 'mall')) FROM kept k") == 0 ]] ||
  fail "the restored kept segment is not kept"
restored=$(grep -c '^change ' "$work/kept-src.txt")
# (the source's changes are numbered 1..restored)
[[ $(q -d dst -c "SELECT count(*) FILTER (WHERE change_id > $restored) = count(*) - $restored AND count(*) > $restored
                  FROM custseg_segment_changes") == t ]] ||
  fail "the restored kept table records no transitions, or numbers them among the restored ones"
# The restored registry keeps working: the next version, and offers numbered after the restored ones.
q -d dst -c "SELECT version FROM custseg_train('mall', 'mall', k => 3, options => '{\"seed\": 42}')" >/dev/null
[[ $(q -d dst -c "SELECT max(version) FROM custseg_models WHERE name = 'mall'") == 4 ]] || fail "retraining after restore"
[[ $(q -d dst -c "INSERT INTO custseg_offers (model, segment, title) VALUES ('mall', 0, 'new') RETURNING offer_id") -gt \
   $(q -d src -c "SELECT max(offer_id) FROM custseg_offers") ]] || fail "offer ids restart after restore"
# The extension's objects come from CREATE EXTENSION, not from the dump: nothing of it is duplicated.
script=$(as_postgres "$PG_BIN/pg_restore" -f - "$work/src.dump") || fail "pg_restore could not list the dump"
[[ $script == *custseg_models* ]] || fail "the dump has no custseg_models rows"
grep -E "CREATE (POLICY|TABLE public\.custseg_|FUNCTION public\.custseg_)" <<<"$script" &&
  fail "the dump holds the extension's own objects"
pgcluster_check_log
echo "test_dump_restore: ok ($n fingerprint lines identical)"
