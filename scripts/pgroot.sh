#!/usr/bin/env bash
# A Debian root with PostgreSQL MAJOR for the version stages (test/pgversions/run.sh):
#   bash scripts/pgroot.sh SUITE MAJOR DIR      e.g. trixie 17 /var/tmp/x/root, testing 18 ...
# DIR (which must not exist yet) receives a root ready for chroot: the release's PostgreSQL MAJOR
# with its server headers, a compiler with ccache, Eigen and the Python packages of the differential
# tests, no cluster created and no service started. The cache, under /var/cache/custseg/roots:
#   SUITE-pgMAJOR-KEY.tar.zst   the root as debootstrap and apt-get made it (KEY: a hash of the suite,
#                               the mirror and the package list); rebuilt when older than a week
#   SUITE-pgMAJOR-KEY.d/        the same, unpacked: DIR is an overlay mount on it (writes go to
#                               DIR.upper beside DIR), so a run neither unpacks nor deletes 2 GB
# Without an overlay filesystem DIR is unpacked from the tarball instead. A missing, stale or broken
# cache only makes the run slower (debootstrap about 1 minute, the packages 3 to 6); a cache that
# cannot be written only leaves the next run without one. Exits 2 (after saying so) when the suite
# cannot install these packages today, as happens to Debian testing in a transition.
set -euo pipefail

suite=${1:?usage: pgroot.sh SUITE MAJOR DIR}
major=${2:?usage: pgroot.sh SUITE MAJOR DIR}
dir=${3:?usage: pgroot.sh SUITE MAJOR DIR}
mirror=${CUSTSEG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${CUSTSEG_ROOT_CACHE:-/var/cache/custseg/roots}
max_age_days=7

packages=(
  "postgresql-$major" "postgresql-server-dev-$major"
  g++ make pkg-config ccache libeigen3-dev
  python3 python3-sklearn python3-pandas python3-numpy python3-psycopg2
)
# Bump when the root's set-up below changes, so that old tarballs stop matching.
setup_version=1
key=$(printf '%s\n' "$setup_version" "$suite" "$major" "$mirror" "${packages[@]}" | sha256sum | cut -c1-12)
name=$suite-pg$major-$key
tarball=$cache/$name.tar.zst
base=$cache/$name.d

say() { echo "pgroot: $*" >&2; }

[[ ! -e $dir ]] || { say "$dir exists already"; exit 1; }
mkdir -p "$(dirname "$dir")"

# A root is usable when its server and its pg_config are there.
usable() { [[ -x $1/usr/lib/postgresql/$major/bin/postgres && -x $1/usr/lib/postgresql/$major/bin/pg_config ]]; }
age_days() { echo $(( ($(date +%s) - $(stat -c %Y "$1")) / 86400 )); }

# The unpacked copy matches the tarball when it carries the tarball's modification time.
base_current() { usable "$base" && [[ $(cat "$base/.custseg-tarball" 2>/dev/null) == $(stat -c %Y "$tarball") ]]; }
unpack_base() {
  local tmp
  tmp=$(mktemp -d "$cache/.$name.XXXXXX") || return 1
  if tar -C "$tmp" --zstd -xpf "$tarball" 2>/dev/null && usable "$tmp"; then
    stat -c %Y "$tarball" >"$tmp/.custseg-tarball"
    rm -rf --one-file-system "$base"
    mv -T "$tmp" "$base" 2>/dev/null && return 0
  fi
  rm -rf --one-file-system "$tmp"
  return 1
}
overlay() {
  mkdir -p "$dir" "$dir.upper" "$dir.ovwork"
  mount -t overlay custseg-root -o "lowerdir=$base,upperdir=$dir.upper,workdir=$dir.ovwork" "$dir" 2>/dev/null && return 0
  rm -rf "$dir" "$dir.upper" "$dir.ovwork"
  return 1
}

if [[ -f $tarball ]] && (($(age_days "$tarball") < max_age_days)); then
  if { base_current || unpack_base; } && overlay; then
    say "Debian $suite with PostgreSQL $major from the cache ($name, $(age_days "$tarball") days old; overlay)"
    exit 0
  fi
  mkdir "$dir"
  if tar -C "$dir" --zstd -xpf "$tarball" 2>/dev/null && usable "$dir"; then
    say "Debian $suite with PostgreSQL $major from the cache ($name.tar.zst, $(age_days "$tarball") days old; unpacked)"
    exit 0
  fi
  say "the cached root $tarball is broken: building a new one"
  rm -rf --one-file-system "$dir"
  rm -f "$tarball"
elif [[ -f $tarball ]]; then
  say "the cached root $tarball is older than $max_age_days days: building a fresh one"
fi

say "debootstrap $suite from $mirror (log: $dir.debootstrap.log)"
if ! debootstrap --variant=minbase "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1; then
  tail -n 20 "$dir.debootstrap.log" >&2
  say "debootstrap of Debian $suite failed (above): Debian $suite cannot be installed from $mirror today"
  exit 2
fi
# Maintainer scripts need /proc (debootstrap may have left its own mounted); unmounted before packing.
mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
trap 'umount "$dir/proc" 2>/dev/null || true' EXIT

# No service may start inside the root, and installing the server creates no cluster: the tests
# run throwaway clusters of their own (scripts/pgcluster.sh).
printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
chmod 755 "$dir/usr/sbin/policy-rc.d"
mkdir -p "$dir/etc/postgresql-common"
echo "create_main_cluster = false" >"$dir/etc/postgresql-common/createcluster.conf"
# Why: a mirror that serves a snapshot keeps a Release file past its Valid-Until date; signatures are
# still checked.
echo 'Acquire::Check-Valid-Until "false";' >"$dir/etc/apt/apt.conf.d/90custseg"

in_root() { chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
say "installing ${packages[*]} (log: $dir.apt.log)"
if ! in_root apt-get -q update >"$dir.apt.log" 2>&1; then
  tail -n 20 "$dir.apt.log" >&2
  say "apt-get update failed in the Debian $suite root (above): $mirror cannot serve Debian $suite today"
  exit 2
fi
# Why the simulation first: it tells a suite that cannot satisfy the dependencies today (Debian
# testing during a transition, or a major it no longer carries) from a failure while installing.
if ! in_root apt-get -q -s install --no-install-recommends "${packages[@]}" >>"$dir.apt.log" 2>&1; then
  grep -E "^E:|unmet|Depends:|Unable to locate|broken|not installable|no installation candidate" "$dir.apt.log" |
    head -n 30 >&2 || tail -n 30 "$dir.apt.log" >&2
  say "Debian $suite is not installable today: its archive cannot satisfy ${packages[*]} (apt-get above)." \
    "This is the archive's state, not custseg's; the stage fails until Debian $suite is consistent again."
  exit 2
fi
if ! in_root apt-get -q install -y --no-install-recommends "${packages[@]}" >>"$dir.apt.log" 2>&1; then
  tail -n 40 "$dir.apt.log" >&2
  say "installing the packages in the Debian $suite root failed (above)"
  exit 1
fi
usable "$dir" || { say "the root has no PostgreSQL $major server after the installation"; exit 1; }
in_root apt-get clean
umount "$dir/proc"
rm -rf "$dir"/var/lib/apt/lists/*
say "Debian $suite root ready: $(in_root dpkg-query -W -f='${Package} ${Version}\n' "postgresql-$major" python3-sklearn libeigen3-dev g++ | paste -sd, | sed 's/,/, /g')"

# Packed for the next runs; written under a temporary name and renamed, so that a run that stops
# halfway never leaves a tarball that looks complete. The next run unpacks it for its overlay.
if mkdir -p "$cache" 2>/dev/null; then
  tmp=$(mktemp "$cache/.$name.XXXXXX") || tmp=
  if [[ -n $tmp ]] && tar -C "$dir" --numeric-owner --one-file-system --zstd -cf "$tmp" . 2>/dev/null; then
    chmod 644 "$tmp"
    mv -f "$tmp" "$tarball"
    # Older roots of this suite and major (another key, or the copy of the previous tarball) go.
    find "$cache" -maxdepth 1 -name "$suite-pg$major-*" ! -name "$name.tar.zst" -exec rm -rf --one-file-system {} +
    say "cached as $tarball ($(du -h "$tarball" | cut -f1))"
    # Why: the new root itself becomes the unpacked copy (a rename on one filesystem), and this run
    # works on an overlay of it like the next ones, so that neither unpacks nor deletes 2 GB.
    if [[ $(stat -c %d "$dir") == $(stat -c %d "$cache") ]]; then
      stat -c %Y "$tarball" >"$dir/.custseg-tarball"
      if mv -T "$dir" "$base" 2>/dev/null; then
        overlay && exit 0
        mkdir "$dir"
        tar -C "$dir" --zstd -xpf "$tarball"
      fi
    fi
  else
    [[ -z $tmp ]] || rm -f "$tmp"
    say "could not write the cache under $cache (the next run builds the root again)"
  fi
fi
