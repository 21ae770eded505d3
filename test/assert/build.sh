#!/usr/bin/env bash
# Builds PostgreSQL 15 with assertions (--enable-cassert: Assert(), memory-context checking, clobbering
# of freed memory) from Debian's source, once per source version, into
# /var/cache/custseg/pg-assert/<version>/install (CUSTSEG_CACHE overrides /var/cache/custseg). It
# installs only under that prefix, never into the system PostgreSQL. Prints the prefix on its last line
# of standard output. The first build takes ~15 min on 2 cores; later runs find the cache.
#   prefix=$(bash test/assert/build.sh | tail -1)
set -euo pipefail
cache=${CUSTSEG_CACHE:-/var/cache/custseg}/pg-assert
# The build's own configuration is part of the key: a change to it must not reuse an old build.
flags=(--enable-cassert --enable-debug --without-readline --without-zlib --without-icu)
cflags="-O1 -g"
flavour=$(printf '%s\n' "${flags[@]}" "$cflags" | sha256sum | cut -c1-8)

need=()
for p in build-essential bzip2 libeigen3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 && apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$cache/apt/lists/partial"
sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$cache/apt/src.sources"
apt_src=(-o Dir::Etc::SourceList="$cache/apt/src.sources" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$cache/apt/lists" -o Dir::Cache="$cache/apt/cache")
if ! apt-get "${apt_src[@]}" update -q >/dev/null 2>&1; then
  # Offline: the newest build already in the cache will do.
  found=$(ls -d "$cache"/*-"$flavour"/install 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $found && -x $found/bin/postgres ]] || { echo "assert: no source list and no cached build" >&2; exit 1; }
  echo "assert: the mirror is unreachable; using the cached $found" >&2
  echo "$found"
  exit 0
fi
versions=$(apt-cache "${apt_src[@]}" showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV)
# The newest version that is already built wins; otherwise the newest the mirror really serves (a
# security update may list one it lacks).
for v in $versions; do
  if [[ -x $cache/$v-$flavour/install/bin/postgres ]]; then
    echo "assert: cached build of PostgreSQL $v in $cache/$v-$flavour" >&2
    echo "$cache/$v-$flavour/install"
    exit 0
  fi
done
src=$(mktemp -d "$cache/src.XXXXXX")
trap 'rm -rf "$src"' EXIT
got=
for v in $versions; do
  if (cd "$src" && apt-get "${apt_src[@]}" source --download-only "postgresql-15=$v" >/dev/null 2>&1); then
    got=$v
    break
  fi
done
[[ -n $got ]] || { echo "assert: no PostgreSQL 15 source could be downloaded" >&2; exit 1; }
dest=$cache/$got-$flavour
prefix=$dest/install
tarball=$(ls "$src"/postgresql-15_*.orig.tar.bz2 | head -1)
echo "assert: building PostgreSQL $got with assertions into $prefix (log: $dest/build.log)" >&2
rm -rf "$dest" && mkdir -p "$dest"
mkdir "$src/pg" && tar -xjf "$tarball" -C "$src/pg" --strip-components=1
cd "$src/pg"
# Installed into a staging prefix and renamed at the end, so an interrupted build is never taken for
# a finished one.
./configure --prefix="$prefix" "${flags[@]}" CFLAGS="$cflags" >"$dest/configure.log" 2>&1
make -j2 -s >"$dest/build.log" 2>&1
make -s install DESTDIR="$dest/staging" >>"$dest/build.log" 2>&1
make -s -C contrib/pg_stat_statements install DESTDIR="$dest/staging" >>"$dest/build.log" 2>&1 || true
mv "$dest/staging$prefix" "$prefix"
rm -rf "$dest/staging"
echo "assert: built PostgreSQL $got with assertions in $prefix" >&2
echo "$prefix"
