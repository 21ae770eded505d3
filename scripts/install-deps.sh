#!/usr/bin/env bash
# Installs what custseg needs on Debian 12, as root, by what a command uses (each command installs
# only its own part):
#   build   compilers, PostgreSQL 15 with its server headers, Eigen: building and running the
#           extension (scripts/demo.sh)
#   api     FastAPI, uvicorn, psycopg 3 for the API, Node.js and npm for the web page (scripts/serve.sh)
#   test    everything the test command uses besides: CMake and GoogleTest, Debian's Python with
#           scikit-learn and pandas, pg_cron, clang's libFuzzer, pytest and Chromium for the page test,
#           SQLsmith for the random-SQL test, what building Citus needs, debootstrap and zstd for
#           the Debian roots of PostgreSQL 17 and 18 (scripts/pgroot.sh), ccache for the test builds
#   all     every part (the default, and what test/run.sh uses)
#   bash scripts/install-deps.sh [--list] [build|api|test|all]...   (--list: print the packages, install nothing)
# Idempotent and quick when everything is already there.
set -euo pipefail

build=(build-essential g++ make pkg-config postgresql-15 postgresql-client-15 postgresql-server-dev-15 libeigen3-dev)
api=(python3 python3-fastapi python3-uvicorn python3-uvloop python3-httptools python3-psycopg python3-psycopg-pool curl)
test=(cmake libgtest-dev googletest postgresql-contrib postgresql-15-cron
      python3-sklearn python3-pandas python3-numpy python3-psycopg2 python3-pytest
      chromium fonts-liberation clang-14 libclang-rt-14-dev bzip2 sqlsmith debootstrap zstd ccache
      # building Citus 13.2.2 from ../shared/vendor/citus for the Citus tests (scripts/citus-build.sh)
      libssl-dev liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev flex bison)

list=0
if [[ ${1:-} == --list ]]; then
  list=1
  shift
fi
parts=("$@")
((${#parts[@]})) || parts=(all)
packages=()
web=0
for part in "${parts[@]}"; do
  case $part in
    build) packages+=("${build[@]}") ;;
    api) packages+=("${api[@]}"); web=1 ;;
    test) packages+=("${test[@]}") ;;
    all) packages+=("${build[@]}" "${api[@]}" "${test[@]}"); web=1 ;;
    *) echo "usage: bash scripts/install-deps.sh [--list] [build|api|test|all]..." >&2; exit 2 ;;
  esac
done
# The web page is built with npm; Debian 12's Node.js 18 is enough (a newer one already installed is kept).
if ((web)); then
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

if ((list)); then
  printf '%s\n' "${packages[@]}" | awk '!seen[$0]++'
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# One name once (parts overlap).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "custseg: missing packages: ${missing[*]} (run this script as root to install them)" >&2
    exit 1
  fi
  echo "custseg: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt run (a second script installing at the same time) instead of failing.
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package may start a cluster of its own on port 5432; ours use temp sockets.
echo "custseg: dependencies present (${parts[*]})"
