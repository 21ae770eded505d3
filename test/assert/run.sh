#!/usr/bin/env bash
# The pg_regress and isolation suites against a PostgreSQL 15 server built with assertions
# (--enable-cassert: Assert(), memory-context checking, clobbering of freed memory), which Debian does
# not ship. Fetches Debian's PostgreSQL 15 source with `apt-get source` (a temporary deb-src list, so
# the system's apt configuration is left alone), builds it once into build/pg-assert (kept between
# runs; ~10 min the first time on 2 cores), builds and installs custseg into that server, runs the
# suites on a throwaway cluster of it and checks its log for failed assertions and crashed backends,
# then runs test/security and test/lifecycle against it as well.
#   bash test/assert/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
prefix=$root/build/pg-assert/install
work=$root/build/pg-assert

need=()
for p in build-essential bzip2 libeigen3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [[ ! -x $prefix/bin/postgres ]]; then
  mkdir -p "$work/apt/lists/partial" "$work/src"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$work/apt/src.sources"
  apt_src=(-o Dir::Etc::SourceList="$work/apt/src.sources" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/apt/lists")
  apt-get "${apt_src[@]}" update -q >/dev/null
  # The newest PostgreSQL 15 source the mirror really serves (a security update may list one it lacks).
  cd "$work/src"
  got=
  for v in $(apt-cache "${apt_src[@]}" showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV); do
    if apt-get "${apt_src[@]}" source --download-only "postgresql-15=$v" >/dev/null 2>&1; then
      got=$v
      break
    fi
  done
  [[ -n $got ]] || { echo "assert: no PostgreSQL 15 source could be downloaded" >&2; exit 1; }
  tarball=$(ls postgresql-15_*.orig.tar.bz2 | head -1)
  echo "assert: building PostgreSQL $got with assertions into $prefix"
  rm -rf pg && mkdir pg && tar -xjf "$tarball" -C pg --strip-components=1
  cd pg
  ./configure --prefix="$prefix" --enable-cassert --enable-debug --without-readline --without-zlib \
    --without-icu CFLAGS="-O1 -g" >"$work/configure.log" 2>&1
  make -j2 -s >"$work/build.log" 2>&1
  make -s install >>"$work/build.log" 2>&1
  make -s -C contrib/pg_stat_statements install >>"$work/build.log" 2>&1 || true
  cd "$root"
fi

chown -R postgres: "$work/install"
pg_config=$prefix/bin/pg_config
# custseg built against the assertion server's headers, in a copy of the tree so the system build's
# objects are left alone.
rm -rf "$work/ext" && mkdir -p "$work/ext"
git ls-files -z | xargs -0 cp --parents -t "$work/ext"
make -C "$work/ext" -j2 -s PG_CONFIG="$pg_config" >/dev/null
make -C "$work/ext" -s install PG_CONFIG="$pg_config" >/dev/null

export PG_BIN=$prefix/bin
source scripts/pgcluster.sh
pgcluster_start
trap pgcluster_stop EXIT
psql -X -At -c "SELECT 'assert: server ' || version() || ', debug_assertions = ' || current_setting('debug_assertions')"
[[ $(psql -X -At -c "SHOW debug_assertions") == on ]] || { echo "assert: the server has no assertions" >&2; exit 1; }
status=0
# The shared data folder is found relative to the test directory.
ln -sfn "$(cd .. && pwd)/shared" "$work/shared"
if ! make -C "$work/ext" installcheck PG_CONFIG="$pg_config"; then
  [[ -f $work/ext/regression.diffs ]] && head -c 20000 "$work/ext/regression.diffs"
  [[ -f $work/ext/output_iso/regression.diffs ]] && head -c 20000 "$work/ext/output_iso/regression.diffs"
  status=1
fi
if grep -E "TRAP:|terminated by signal|server process .* was terminated|PANIC" "$CUSTSEG_PGLOG"; then
  echo "assert: the assertion server's log shows a failed assertion or a crashed backend" >&2
  status=1
fi
pgcluster_stop
trap - EXIT
# The cluster-level tests too, each on a cluster of the assertion server of its own (their own log
# checks catch a failed assertion, which ends the backend with signal 6).
for t in test/security/test_nonsuperuser.sh test/lifecycle/test_dump_restore.sh test/lifecycle/test_upgrade.sh; do
  if ! bash "$t" >"$work/$(basename "$t" .sh).log" 2>&1; then
    echo "assert: $t failed on the assertion server:" >&2
    tail -20 "$work/$(basename "$t" .sh).log" >&2
    status=1
  else
    tail -1 "$work/$(basename "$t" .sh).log"
  fi
done
((status == 0)) && echo "assert: ok"
exit $status
