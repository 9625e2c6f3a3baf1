#!/usr/bin/env bash
# The test suite: every crate's unit, integration and end-to-end tests on small fixtures the
# tests write themselves. Set CLINRAG_TEST_POSTGRES=postgres://USER@HOST:PORT/DB to also run the
# catalog suite against PostgreSQL (each test creates and drops its own database).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace "$@"
