#!/usr/bin/env bash
# Installs what custseg needs on Debian 12, as root: the compilers, PostgreSQL 15 with its server
# headers, Eigen, GoogleTest, Debian's Python with scikit-learn for the differential tests, FastAPI for
# the API, Node.js for the web page, Chromium for its browser test, clang's libFuzzer, and debootstrap
# with zstd for the Debian roots of PostgreSQL 17 and 18 (scripts/pgroot.sh).
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential g++ make cmake pkg-config
  postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-cron
  libeigen3-dev libgtest-dev googletest
  python3 python3-sklearn python3-pandas python3-numpy python3-psycopg2
  python3-fastapi python3-uvicorn python3-uvloop python3-psycopg python3-psycopg-pool python3-pytest
  chromium fonts-liberation curl
  clang-14 libclang-rt-14-dev bzip2
  debootstrap zstd
)
# The web page is built with npm; Debian 12's Node.js 18 is enough (a newer one already installed is kept).
command -v node >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

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
echo "custseg: dependencies present"
