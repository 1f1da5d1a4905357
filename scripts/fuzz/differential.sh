#!/usr/bin/env bash
# Differential fuzzing of the Packets decoders: the working tree against a git revision (default
# main). Both builds decode every input; the first difference in layers, issue, summaries, flow
# identities or JSON detail aborts with both outputs (see FuzzDifferential.swift), and libFuzzer
# keeps the input in .build-fuzz/differential-crashes/. Use it after a change that must not change
# behaviour (a faster decoder); a difference that is meant is checked against tshark/tcpdump instead.
#   scripts/fuzz/differential.sh [REVISION] [SECONDS]   (defaults: main, 300)
# The corpus is the plain fuzzer's (.build-fuzz/corpus, seeded from the shared captures) plus
# every fuzz regression fixture, so the run starts from real frames.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
ensure_swift
revision=${1:-main}
seconds=${2:-300}
git rev-parse --verify -q "$revision^{commit}" >/dev/null || { echo "differential: unknown revision '$revision'" >&2; exit 2; }
# One HopscopeModel is linked into the harness, so both builds must agree on it.
if ! git diff --quiet "$revision" -- Sources/HopscopeModel; then
  echo "differential: Sources/HopscopeModel differs from $revision; both builds must share it" >&2
  exit 2
fi
out=.build-fuzz/differential
rm -rf "$out"
mkdir -p "$out/reference"
git archive "$revision" Sources/Packets | tar -x -C "$out/reference"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -enable-upcoming-feature ExistentialAny)
swiftc "${flags[@]}" -module-name HopscopeModel -emit-module -emit-module-path "$out/HopscopeModel.swiftmodule" \
  -emit-library -static -o "$out/libHopscopeModel.a" Sources/HopscopeModel/*.swift
swiftc "${flags[@]}" -module-name Packets -I "$out" -emit-module -emit-module-path "$out/Packets.swiftmodule" \
  -emit-library -static -o "$out/libPackets.a" $(find Sources/Packets -name '*.swift' | sort)
swiftc "${flags[@]}" -module-name PacketsReference -I "$out" -emit-module -emit-module-path "$out/PacketsReference.swiftmodule" \
  -emit-library -static -o "$out/libPacketsReference.a" $(find "$out/reference/Sources/Packets" -name '*.swift' | sort)
swiftc "${flags[@]}" -I "$out" -L "$out" -lPackets -lPacketsReference -lHopscopeModel scripts/fuzz/FuzzDifferential.swift \
  -o "$out/fuzz-differential"
corpus=.build-fuzz/corpus
[ -d "$corpus" ] || python3 scripts/fuzz/seed-corpus.py ../shared/data/pcap "$corpus"
cp -n Tests/PacketsTests/Fixtures/fuzz/* "$corpus"/ 2>/dev/null || true
rm -f "$corpus/README.md"
mkdir -p .build-fuzz/differential-crashes
echo "differential: working tree against $(git rev-parse --short "$revision") for ${seconds}s"
"$out/fuzz-differential" "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
  -artifact_prefix=.build-fuzz/differential-crashes/ -print_final_stats=1
