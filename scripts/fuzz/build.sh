#!/usr/bin/env bash
# Builds the libFuzzer target for the Packets decoders (separate from the SwiftPM build: it needs
# -sanitize=fuzzer,address on every module). Output: .build-fuzz/fuzz-packets
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
ensure_swift
out=.build-fuzz
mkdir -p "$out"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -enable-upcoming-feature ExistentialAny)
swiftc "${flags[@]}" -module-name HopscopeModel -emit-module -emit-module-path "$out/HopscopeModel.swiftmodule" \
  -emit-library -static -o "$out/libHopscopeModel.a" Sources/HopscopeModel/*.swift
swiftc "${flags[@]}" -module-name Packets -I "$out" -emit-module -emit-module-path "$out/Packets.swiftmodule" \
  -emit-library -static -o "$out/libPackets.a" $(find Sources/Packets -name '*.swift' | sort)
swiftc "${flags[@]}" -I "$out" -L "$out" -lPackets -lHopscopeModel scripts/fuzz/FuzzPackets.swift -o "$out/fuzz-packets"
echo "built $out/fuzz-packets"
