#!/usr/bin/env bash
# Runs the vitest suite under other Node majors than the machine's own (the brief: 20, 22 and 24).
# The Node binaries come from the npm registry's node-linux-<arch> packages (nodejs.org is not
# reachable), pinned below, and are cached in $NODE_MATRIX_CACHE (default ~/.cache/slabcast-node):
# a second run downloads nothing.
#
# Expects `npm ci` done with the default Node (node_modules and the N-API addon in build/Release,
# built once: N-API is ABI-stable across majors). Builds dist/ once with the default Node (some
# tests spawn dist/server.js), unless NODE_MATRIX_SKIP_BUILD=1.
#
#   bash scripts/node-matrix.sh                    # whole suite under each pinned version
#   bash scripts/node-matrix.sh test/unit          # extra arguments go to `vitest run`
#   NODE_MATRIX_VERSIONS="24.21.0" bash scripts/node-matrix.sh
#
# Exits non-zero if a download or any version's run fails; the last line is 'N passed, N failed'
# (versions, not tests).
set -uo pipefail
cd "$(dirname "$0")/.."

VERSIONS=${NODE_MATRIX_VERSIONS:-"22.23.3 24.21.0"}
CACHE=${NODE_MATRIX_CACHE:-"$HOME/.cache/slabcast-node"}
case "$(uname -m)" in
  x86_64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) echo "node-matrix: unsupported architecture $(uname -m)" >&2; exit 2 ;;
esac

[ -e node_modules/vitest/vitest.mjs ] || { echo "node-matrix: run 'npm ci' first" >&2; exit 2; }
compgen -G "build/Release/*.node" >/dev/null || { echo "node-matrix: no build/Release/*.node (the N-API addon): run 'npm ci' first" >&2; exit 2; }

# Fetches node-linux-$ARCH@$1 into $CACHE/v$1/bin/node unless it is already there and runs.
fetch() {
  local ver=$1 dir="$CACHE/v$1"
  if [ "$("$dir/bin/node" --version 2>/dev/null)" = "v$ver" ]; then return 0; fi
  echo "node-matrix: fetching node-linux-$ARCH@$ver from the npm registry"
  mkdir -p "$CACHE"
  local tmp
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX") || return 1
  if ! (cd "$tmp" && npm pack --loglevel=error "node-linux-$ARCH@$ver" >pack.log 2>&1); then
    cat "$tmp/pack.log" >&2; rm -rf "$tmp"; return 1
  fi
  # Only the binary: the package also carries headers and docs (~60 MB more unpacked).
  mkdir -p "$tmp/v$ver/bin"
  if ! tar -xzf "$tmp"/node-linux-*.tgz -C "$tmp/v$ver/bin" --strip-components=2 package/bin/node \
    || [ "$("$tmp/v$ver/bin/node" --version 2>/dev/null)" != "v$ver" ]; then
    echo "node-matrix: node-linux-$ARCH@$ver did not unpack to a working v$ver" >&2; rm -rf "$tmp"; return 1
  fi
  rm -rf "$dir" && mv "$tmp/v$ver" "$dir" && rm -rf "$tmp"
}

if [ "${NODE_MATRIX_SKIP_BUILD:-0}" != 1 ]; then
  echo "node-matrix: npm run build:ts (with $(node --version))"
  npm run --silent build:ts || exit 1
fi

LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
passed=0 failed=0 summary=() failed_logs=()
for ver in $VERSIONS; do
  if ! fetch "$ver"; then
    failed=$((failed + 1)); summary+=("v$ver: FETCH FAILED"); continue
  fi
  bin="$CACHE/v$ver/bin"
  # vitest forks its workers with process.execPath, and the tests spawn process.execPath too, so
  # running vitest with this node puts every process on it; PATH covers a bare `node` anywhere.
  echo "node-matrix: ===== $("$bin/node" --version) ($bin/node) ====="
  start=$SECONDS
  # (pipefail: the pipeline fails when vitest does)
  if PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run "$@" 2>&1 | tee "$LOGS/v$ver.log"; then
    passed=$((passed + 1)); summary+=("v$ver: passed ($((SECONDS - start)) s)")
  else
    failed=$((failed + 1)); summary+=("v$ver: FAILED ($((SECONDS - start)) s)"); failed_logs+=("$ver")
  fi
done

# A failed version's failures again at the end, so the tail of a long CI log shows them: vitest's
# 'Failed Tests' section (or, if it never got that far, the last lines it printed), without colours.
for ver in "${failed_logs[@]}"; do
  echo "node-matrix: ===== failures under v$ver ====="
  sed 's/\x1b\[[0-9;]*m//g' "$LOGS/v$ver.log" >"$LOGS/v$ver.txt"
  if grep -q 'Failed Tests' "$LOGS/v$ver.txt"; then
    sed -n '/Failed Tests/,/Test Files/p' "$LOGS/v$ver.txt" | head -n 200
  else
    tail -n 60 "$LOGS/v$ver.txt"
  fi
done

echo "node-matrix: results"
for line in "${summary[@]}"; do echo "  $line"; done
echo "node-matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
