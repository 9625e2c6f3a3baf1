#!/usr/bin/env bash
# The test suite: every crate's unit, integration and end-to-end tests on small fixtures the
# tests write themselves. Set CLINRAG_TEST_POSTGRES=postgres://USER@HOST:PORT/DB to also run the
# catalog suite against PostgreSQL (each test creates and drops its own database).
# Ends with one summary line over all test binaries: "tests: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
