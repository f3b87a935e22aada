#!/usr/bin/env bash
# Set up and run every test: installs dependencies (apt-get), builds, runs the
# whole ctest suite, then the unit/integration tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the source checks
# (clang-format, banned functions). Exit status 0 only if everything passed.
#   tools/test.sh            everything
#   HARK_TEST_QUICK=1 tools/test.sh   skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== setup and build (build/)"
tools/setup.sh build

echo "== tests (build/)"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${HARK_TEST_QUICK:-0}" != 1 ]; then
  echo "== ASan+UBSan build and tests (build-asan/)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHARK_SANITIZE=address,undefined \
        -DHARK_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs" -LE "slow|bench" --timeout 1800)

  # Fuzzing for a fixed time per target (not only replaying the corpora): libFuzzer with
  # ASan+UBSan, clang from Debian. A crash fails the run and leaves the input in
  # build-fuzz/crashes/ (add it to tests/fuzz/corpora/<target>/ with the fix). fuzz_request
  # is left to its corpus replay: it drives a whole server over TCP, too slow to fuzz here.
  if command -v clang >/dev/null 2>&1; then
    secs=${HARK_FUZZ_SECONDS:-10}
    echo "== fuzzing each target for ${secs} s (build-fuzz/)"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARK_BUILD_FUZZERS=ON \
          -DHARK_BUILD_BENCH=OFF >/dev/null
    targets=()
    for src in tests/fuzz/fuzz_*.c; do
      t=$(basename "$src" .c)
      [ "$t" = fuzz_request ] || targets+=("$t")
    done
    cmake --build build-fuzz -j"$jobs" --target "${targets[@]}"
    mkdir -p build-fuzz/crashes
    for t in "${targets[@]}"; do
      name=${t#fuzz_}
      work=build-fuzz/corpus/$name
      mkdir -p "$work"
      ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "build-fuzz/tests/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
        -print_final_stats=0 -artifact_prefix="build-fuzz/crashes/$name-" \
        "$work" "tests/fuzz/corpora/$name" >"build-fuzz/$t.log" 2>&1 ||
        { tail -40 "build-fuzz/$t.log"; echo "fuzzing $t found a failure (build-fuzz/crashes/)"; exit 1; }
      echo "  $t: $(grep -a -o 'Done [0-9]* runs' "build-fuzz/$t.log" | tail -1), no failure"
    done
  fi
fi

echo "== source checks"
tools/check-source.sh
echo "== all tests passed"
