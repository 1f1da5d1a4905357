#!/usr/bin/env bash
# Decoder benchmark: generates a 2,000,000-packet mixed pcap (ICMP, TCP, DNS, DHCP, ARP, VXLAN) with
# many distinct hosts and another with few, then times on each, in the same run: a bare libpcap
# read loop, full structured decode, decode + flow identities, one-line summaries, and
# `tcpdump -r FILE -n` and `-n -S` (output to /dev/null). Prints packets/s and ratios. Release build.
#   scripts/bench/packets.sh [COUNT]     (default 2000000; files go to a temporary folder, removed at exit)
#   TCPDUMP_LIMIT=SECONDS caps each tcpdump run (default 180).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
ensure_swift
count=${1:-2000000}
tcpdump_limit=${TCPDUMP_LIMIT:-180}
swift build -c release --product PacketsBench >/dev/null
bench=$(swift build -c release --show-bin-path)/PacketsBench
work=$(mktemp -d /tmp/hopscope-bench-packets.XXXXXX)
trap 'rm -rf "$work"' EXIT

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.2f", n / s / 1e6 }'; }
best() { # best of 3 runs of one mode: prints "packets seconds"
  local mode=$1 file=$2 bestS="" n line s
  for _ in 1 2 3; do
    line=$("$bench" "$mode" "$file"); n=$(awk '{print $2}' <<<"$line"); s=$(awk '{print $3}' <<<"$line")
    if [ -z "$bestS" ] || awk -v a="$s" -v b="$bestS" 'BEGIN { exit !(a < b) }'; then bestS=$s; fi
  done
  echo "$n $bestS"
}

printf "%-6s %-22s %12s %10s %14s\n" hosts measurement packets seconds "M packets/s"
for hosts in many few; do
  file=$work/mixed-$hosts.pcap
  "$bench" generate "$file" "$count" "$hosts"
  cat "$file" >/dev/null # into the page cache: every reader starts warm
  declare -A r=() stopped=()
  for mode in pcap-loop decode decode-identities summaries; do
    read -r n s < <(best "$mode" "$file")
    r[$mode]=$s
    printf "%-6s %-22s %12d %10.3f %14s\n" "$hosts" "$mode" "$n" "$s" "$(rate "$n" "$s")"
  done
  # tcpdump -n as the brief asks, and -n -S (absolute sequence numbers, as Hopscope prints them:
  # without it tcpdump keeps a table of every TCP connection, which many hosts make slow).
  for variant in "-n" "-n -S"; do
    # Bounded: with many TCP connections tcpdump -n can take many minutes; a run stopped at the
    # limit is reported as such and its rate is an upper bound.
    start=$(date +%s.%N); status=0
    timeout "$tcpdump_limit" tcpdump -r "$file" $variant >/dev/null 2>&1 || status=$?
    end=$(date +%s.%N)
    t=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
    r["tcpdump $variant"]=$t
    stopped["tcpdump $variant"]=""
    note=""; [ "$status" -eq 124 ] && { note="  (stopped at ${tcpdump_limit}s: rate is an upper bound)"; stopped["tcpdump $variant"]=">="; }
    printf "%-6s %-22s %12d %10.3f %14s%s\n" "$hosts" "tcpdump -r $variant" "$count" "$t" "$(rate "$count" "$t")" "$note"
  done
  awk -v l="${r[pcap-loop]}" -v d="${r[decode]}" -v s="${r[summaries]}" -v t="${r[tcpdump -n]}" -v ts="${r[tcpdump -n -S]}" -v h="$hosts" \
      -v a="${stopped[tcpdump -n]}" -v b="${stopped[tcpdump -n -S]}" 'BEGIN {
    printf "%-6s ratios: decode takes %.2fx the bare libpcap loop; summaries %s%.1fx faster than tcpdump -r -n, %s%.1fx faster than tcpdump -r -n -S\n", h, d / l, a, t / s, b, ts / s }'
  rm -f "$file"
done
