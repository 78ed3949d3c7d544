#!/usr/bin/env bash
# The test command: installs what is missing, builds ferry with AddressSanitizer
# and UndefinedBehaviorSanitizer, builds it once more as the quick start does
# (optimized, without tests), and runs every test through ctest.
#   scripts/test.sh               all tests
#   scripts/test.sh -L unit       only the unit tests (any ctest option works)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD=${FERRY_TEST_BUILD:-build-test}
cmake -S . -B "$BUILD" -DFERRY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
# The optimized build the quick start makes: -O2 finds warnings (string
# truncation) that the debug build does not, and -Werror makes them errors.
cmake -S . -B "$BUILD-opt" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_TESTS=OFF >/dev/null
cmake --build "$BUILD-opt" -j"$(nproc)" >/dev/null
cd "$BUILD"
ctest --output-on-failure -j2 "$@"
