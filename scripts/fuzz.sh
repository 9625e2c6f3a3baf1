#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (parsers and loaders; RELIABILITY.md) for a bounded time.
# Not part of CI's default path: it needs the nightly toolchain and minutes per target.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh pubmed gguf     # only these targets
#   FUZZ_SECONDS=300 scripts/fuzz.sh jats
#
# Each target starts from its seeds (fuzz/seeds/<target>/, committed) and the corpus it grew
# before (fuzz/corpus/<target>/, git-ignored). A crash, a hang over FUZZ_TIMEOUT seconds (default
# 10) on one input, or one allocation over FUZZ_RSS_MB (default 2048) stops that target; the
# input is saved under fuzz/artifacts/<target>/ and the script exits 1 after the other targets.
# Reproduce one with `cd fuzz && cargo +nightly fuzz run -O -a --codegen-units 16 <target>
# artifacts/<target>/<file>` (or run fuzz/target/<host>/release/<target> on the file), then turn
# it into a regression test in the owning crate.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TIMEOUT="${FUZZ_TIMEOUT:-10}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
# Release code with overflow checks and debug assertions (an overflow is a bug to find), address
# sanitizer (cargo-fuzz's default: catches oversized allocations through -malloc_limit_mb), 16
# codegen units (the build of candle and tantivy with 1 unit takes far longer on a small machine).
BUILD_FLAGS=(-O -a --codegen-units 16)

# Target and the largest input it is fed, in bytes (about the size of one real record or
# header: a MEDLINE citation or JATS article, a tabular chapter, a GGUF header, a template).
TARGETS=(
  pubmed:32768
  jats:32768
  markdown:16384
  jsonl:16384
  icd10cm:32768
  atc:8192
  mesh:8192
  pickle:4096
  obo:16384
  hpoa:8192
  gguf:8192
  chat_template:4096
  tool_call:4096
)

max_len_of() {
  local t
  for t in "${TARGETS[@]}"; do
    if [[ "${t%%:*}" == "$1" ]]; then
      echo "${t##*:}"
      return 0
    fi
  done
  return 1
}

selected=()
if [[ $# -gt 0 ]]; then
  for name in "$@"; do
    if ! max_len_of "$name" >/dev/null; then
      echo "fuzz.sh: unknown target '$name'; targets: $(printf '%s ' "${TARGETS[@]%%:*}")" >&2
      exit 2
    fi
    selected+=("$name")
  done
else
  selected=("${TARGETS[@]%%:*}")
fi

if ! rustup toolchain list | grep -q "^${TOOLCHAIN}"; then
  echo "fuzz.sh: the ${TOOLCHAIN} toolchain is needed (rustup toolchain install ${TOOLCHAIN})" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

echo "fuzz.sh: building ${#selected[@]} target(s) (release, coverage instrumentation)" >&2
if [[ $# -eq 0 ]]; then
  nice cargo "+${TOOLCHAIN}" fuzz build "${BUILD_FLAGS[@]}"
else
  for name in "${selected[@]}"; do
    nice cargo "+${TOOLCHAIN}" fuzz build "${BUILD_FLAGS[@]}" "$name"
  done
fi
# The binaries are run directly: `cargo fuzz run` would rebuild whenever a source file of the
# workspace changed meanwhile, which in a busy checkout means rebuilding between targets.
bindir="target/$(rustc "+${TOOLCHAIN}" -vV | sed -n 's/^host: //p')/release"

logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT
failed=()
rows=()
for name in "${selected[@]}"; do
  max_len="$(max_len_of "$name")"
  mkdir -p "corpus/$name" "seeds/$name"
  log="$logdir/$name.log"
  echo "fuzz.sh: $name for ${SECONDS_PER_TARGET}s (max_len $max_len)" >&2
  status=0
  mkdir -p "artifacts/$name"
  nice "$bindir/$name" -artifact_prefix="artifacts/$name/" "corpus/$name" "seeds/$name" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$max_len" -timeout="$TIMEOUT" \
    -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  if [[ -z "$runs" ]]; then
    runs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
  fi
  corpus="$(find "corpus/$name" -type f | wc -l)"
  if [[ $status -ne 0 ]]; then
    kind="$(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|panicked at [^ ]+|ERROR: AddressSanitizer: [a-z-]+' "$log" || true)"
    artifact="$(grep -m1 -o 'Test unit written to [^ ]*' "$log" | sed 's/Test unit written to //' || true)"
    rows+=("$(printf '%-14s %12s %8s  CRASH (%s) %s' "$name" "${runs:-?}" "$corpus" "${kind:-exit $status}" "$artifact")")
    failed+=("$name")
    tail -40 "$log" >&2
  else
    rows+=("$(printf '%-14s %12s %8s  ok' "$name" "${runs:-?}" "$corpus")")
  fi
done

echo
printf '%-14s %12s %8s  %s\n' target runs corpus result
printf '%s\n' "${rows[@]}"
echo "(${SECONDS_PER_TARGET}s per target; $(date -u +%Y-%m-%dT%H:%MZ); $(rustc "+${TOOLCHAIN}" --version))"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
