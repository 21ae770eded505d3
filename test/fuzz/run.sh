#!/usr/bin/env bash
# Builds the libFuzzer targets of the model readers (clang++ with -fsanitize=fuzzer,address,undefined,
# linking the PostgreSQL-free core) and runs each for N seconds (default 30) over its corpus in
# test/fuzz/corpus/<target>. New inputs found go to build/fuzz/new/<target>, not into the committed
# corpus; crashes are written to build/fuzz/crash-<target>-*. Prints the executions run per target.
#   bash test/fuzz/run.sh [seconds per target] [target...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(model_text model_binary)

need=()
command -v clang++-14 >/dev/null || need+=(clang-14)
[[ -f /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a ]] ||
  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
dpkg-query -W -f='${Status}' libeigen3-dev 2>/dev/null | grep -q "install ok installed" || need+=(libeigen3-dev)
if ((${#need[@]})); then
  echo "fuzz: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q &&
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi

out=build/fuzz
mkdir -p "$out"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror -Isrc/core -I/usr/include/eigen3)
core_objs=()
max_jobs=$(nproc)
for src in src/core/*.cpp; do
  obj=$out/core-$(basename "${src%.cpp}").o
  if [[ ! -f $obj || $src -nt $obj || -n $(find src/core -name '*.h' -newer "$obj") ]]; then
    # The core is written for g++ (the extension's compiler): clang does not know some of its warning
    # pragmas and flags a field kept for debugging. One compiler per core at a time.
    while (($(jobs -rp | wc -l) >= max_jobs)); do wait -n || true; done
    rm -f "$obj"
    clang++-14 "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -Wno-unknown-warning-option \
      -Wno-unused-private-field -c "$src" -o "$obj" &
  fi
  core_objs+=("$obj")
done
wait
# A failed compile leaves no object (each was removed before its compile).
for obj in "${core_objs[@]}"; do [[ -f $obj ]] || { echo "fuzz: compiling $obj failed" >&2; exit 1; }; done

status=0
for t in "${targets[@]}"; do
  clang++-14 "${flags[@]}" "test/fuzz/fuzz_$t.cpp" "${core_objs[@]}" -o "$out/fuzz_$t"
  mkdir -p "$out/new/$t"
  log=$out/fuzz_$t.log
  echo "fuzz: $t for $seconds s"
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "$out/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -dict=test/fuzz/model.dict -print_final_stats=1 -artifact_prefix="$out/crash-$t-" \
    "$out/new/$t" "test/fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz: $t: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions, no finding"
  else
    status=1
    echo "fuzz: $t: FINDING ($(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions); log $log" >&2
    grep -E "ERROR|SUMMARY|property failed|deadly signal|==[0-9]+==|Test unit written" "$log" | head -20 >&2
  fi
done
exit $status
