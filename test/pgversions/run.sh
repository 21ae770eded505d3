#!/usr/bin/env bash
# custseg on another PostgreSQL major, in a Debian root of the release that ships it:
#   bash test/pgversions/run.sh trixie 17       # Debian 13, PostgreSQL 17
#   bash test/pgversions/run.sh testing 18      # Debian testing, PostgreSQL 18
# Gets the root from scripts/pgroot.sh (cached under /var/cache/custseg/roots, built by debootstrap
# when the cache is missing, broken or older than a week), copies the source tree into it (tracked
# and untracked files, no build products: the worktree is never written), mounts /proc, a /dev and
# /dev/shm of its own and the compiler cache (/var/cache/custseg/ccache/SUITE-pgMAJOR), and runs
# test/pgversions/inside.sh there: the warning-free build, the pg_regress and isolation suites, the
# differential tests against the release's scikit-learn, the server log check, the upgrade test and
# the security test. Everything is unmounted and removed on exit, whatever failed. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
suite=${1:?usage: test/pgversions/run.sh SUITE MAJOR}
major=${2:?usage: test/pgversions/run.sh SUITE MAJOR}
say() { echo "pgversions: $*" >&2; }

[[ $(id -u) -eq 0 ]] || { say "needs root (debootstrap, chroot, mount)"; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is missing (bash scripts/install-deps.sh)"; exit 1; }
[[ -d ../shared/data ]] || { say "the shared data folder ../shared/data is missing"; exit 1; }

# Disk, not a tmpfs: a root is about 2 GB (an overlay on the cached one, or unpacked from it).
work=$(mktemp -d /var/tmp/custseg-pg"$major".XXXXXX)
root=$work/root

# The mounts under $work, deepest first.
mounts_under() { awk -v p="$work/" 'index($2, p) == 1 { print $2 }' /proc/self/mounts | sort -r; }
cleanup() {
  local pids=() p
  # Processes still running inside the root (a server left by a failed step): ours, stopped by id.
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/root" 2>/dev/null) == "$root"* ]] && pids+=("${p#/proc/}")
  done
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    sleep 2
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  for m in $(mounts_under); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  # Why the check: removing a tree with a mount still in it would remove what is mounted.
  if [[ -n $(mounts_under) ]]; then
    say "left $work in place: still mounted: $(mounts_under | paste -sd' ')"
  else
    rm -rf --one-file-system "$work"
  fi
  say "done after $SECONDS s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rc=0
bash scripts/pgroot.sh "$suite" "$major" "$root" || rc=$?
((rc == 0)) || exit "$rc"
say "root ready after $SECONDS s"

# The tree as git sees it (tracked and untracked, not ignored), whatever state the worktree is in.
mkdir -p "$root/build/custseg" "$root/build/shared"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    tar -C "$src" --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C "$root/build/custseg" -xf -
else
  tar -C "$src" --exclude=./build --exclude='*.o' --exclude='*.so' --exclude=./results --exclude=./output_iso \
    -cf - . | tar -C "$root/build/custseg" -xf -
fi
cp -r ../shared/data "$root/build/shared/"

# /dev of its own (a tmpfs with the few devices a server uses), so nothing mounted in the root can
# reach the host's /dev; /dev/shm for the dynamic shared memory of parallel queries.
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=1m custseg-dev "$root/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name maj min <<<"$d"
  mknod -m 666 "$root/dev/$name" c "$maj" "$min"
done
ln -s /proc/self/fd "$root/dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$root/dev/${i##*:}"; done
mkdir "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o mode=1777,size=2g custseg-shm "$root/dev/shm"
# The compiler cache outlives the root: unchanged sources compile in no time on the next run. Without
# it (a cache directory that cannot be made or mounted) the build is only slower.
ccache_dir=${CUSTSEG_CCACHE:-/var/cache/custseg/ccache}/$suite-pg$major
ccache_env=(CCACHE_DISABLE=1)
if mkdir -p "$ccache_dir" "$root/ccache" 2>/dev/null && mount --bind "$ccache_dir" "$root/ccache" 2>/dev/null; then
  ccache_env=(CCACHE_DIR=/ccache CCACHE_MAXSIZE=1G)
fi

chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH="/usr/lib/ccache:/usr/lib/postgresql/$major/bin:/usr/sbin:/usr/bin:/sbin:/bin" "${ccache_env[@]}" \
  PG_BIN="/usr/lib/postgresql/$major/bin" PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" \
  CUSTSEG_SUITE="$suite" LOKY_MAX_CPU_COUNT="$(nproc)" \
  bash /build/custseg/test/pgversions/inside.sh
