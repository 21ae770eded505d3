#!/usr/bin/env bash
# citus-build.sh [DESTDIR]: installs Citus 13.2.2, built from ../shared/vendor/citus (the tarball plus
# its one patch for PostgreSQL 15.20), into the PostgreSQL 15 under DESTDIR (default: the system's, /).
# The built files are cached in /var/cache/custseg, keyed by the tarball's and the patch's checksums and
# the server's version, so a second run on the same machine takes seconds; without a cache (or when the
# cache cannot be written) it builds, which takes 5 to 15 minutes on 2 cores. Citus is a test
# dependency only (AGPL-3.0): nothing of it goes into custseg.
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=../shared/vendor/citus
tarball=$vendor/citus-13.2.2.tar.xz
patchfile=$vendor/pg15.20-have_createdb_privilege.patch
dest=${1:-/}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
cache_dir=${CUSTSEG_CACHE:-/var/cache/custseg}

for f in "$tarball" "$patchfile"; do
  [[ -r $f ]] || { echo "citus-build: $f is missing" >&2; exit 1; }
done
server=$("$PG_CONFIG" --version | awk '{print $2}')
tar_sum=$(sha256sum "$tarball" | cut -c1-16)
patch_sum=$(sha256sum "$patchfile" | cut -c1-8)
cache=$cache_dir/citus-13.2.2-$tar_sum-$patch_sum-pg$server.tar

install_from() {  # extract a staged tree over DESTDIR; fails (and leaves DESTDIR as it was) on a bad archive
  tar -tf "$1" >/dev/null 2>&1 && tar -xf "$1" -C "$dest" --no-same-owner
}

if [[ -f $cache ]] && install_from "$cache"; then
  echo "citus-build: Citus 13.2.2 for PostgreSQL $server installed from the cache $cache"
  exit 0
fi

work=$(mktemp -d /tmp/custseg-citus-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "citus-build: building Citus 13.2.2 for PostgreSQL $server in $work (no cache at $cache)"
start=$SECONDS
tar -xJf "$tarball" -C "$work"
src=$work/citus-13.2.2
patch -s -d "$src" -p1 <"$patchfile"
# No libcurl: the tests' nodes must not phone home with usage statistics. No LLVM bitcode (with_llvm=no):
# JIT inlining of Citus is not needed for tests, and the bitcode would double the build time.
(cd "$src" && ./configure -q PG_CONFIG="$PG_CONFIG" --without-libcurl >"$work/configure.log" 2>&1) || {
  tail -n 40 "$work/configure.log" >&2
  exit 1
}
make -s -C "$src" -j"$(nproc)" with_llvm=no >"$work/make.log" 2>&1 || { tail -n 60 "$work/make.log" >&2; exit 1; }
make -s -C "$src" with_llvm=no install DESTDIR="$work/stage" >"$work/install.log" 2>&1 || {
  tail -n 40 "$work/install.log" >&2
  exit 1
}
tar -cf "$work/citus.tar" -C "$work/stage" .
install_from "$work/citus.tar"
echo "citus-build: built in $((SECONDS - start)) s and installed under $dest"
# The cache is only an optimisation: a cache that cannot be written is reported and otherwise ignored.
if mkdir -p "$cache_dir" 2>/dev/null && cp "$work/citus.tar" "$cache.tmp.$$" 2>/dev/null &&
  mv -f "$cache.tmp.$$" "$cache" 2>/dev/null; then
  echo "citus-build: cached as $cache"
else
  rm -f "$cache.tmp.$$" 2>/dev/null || true
  echo "citus-build: could not write the cache $cache (the next run builds again)" >&2
fi
