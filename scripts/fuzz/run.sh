#!/usr/bin/env bash
# Fuzzes the Packets decoders for SECONDS (default 300) from a corpus seeded with every frame of
# the shared captures. A crash leaves its input in .build-fuzz/crashes/; copy it into
# Tests/PacketsTests/Fixtures/fuzz/ (the regression test decodes every file there).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
bash scripts/fuzz/build.sh
corpus=.build-fuzz/corpus
[ -d "$corpus" ] || python3 scripts/fuzz/seed-corpus.py ../shared/data/pcap "$corpus"
mkdir -p .build-fuzz/crashes
.build-fuzz/fuzz-packets "$corpus" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
  -artifact_prefix=.build-fuzz/crashes/ -print_final_stats=1
