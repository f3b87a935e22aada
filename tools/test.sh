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
fi

echo "== source checks"
tools/check-source.sh
echo "== all tests passed"
