#!/usr/bin/env bash
# Source checks run in CI: clang-format conformance and banned functions in
# library code (raw allocation must go through hark__malloc & co., and the
# classic unsafe string functions are not used).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
if ! clang-format --dry-run -Werror $files 2>/tmp/hark-format.log; then
  echo "clang-format: these files need formatting (run: clang-format -i FILE):"
  grep -o '^[^:]*\.[ch]' /tmp/hark-format.log | sort -u
  status=1
fi

# Banned in src/ (the library and CLI): raw allocators and unsafe string calls.
banned='\b(malloc|calloc|realloc|free|strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)\s*\('
hits=$(git ls-files 'src/*.c' 'src/*.h' | grep -v '^src/cli/' | grep -v '^src/util/alloc.c$' |
       xargs grep -nE "$banned" | grep -vE 'hark__|/\* libc|^[^:]*:[0-9]+:\s*(\*|/\*|//)' || true)
if [ -n "$hits" ]; then
  echo "banned functions in library code (use hark__malloc/hark__free, snprintf, strtok_r...):"
  echo "$hits"
  status=1
fi
exit $status
