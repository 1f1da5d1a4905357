#!/usr/bin/env bash
# Live-capture benchmark: 1400-byte UDP frames at rising rates, captured and written to file by
# `hopscope capture` and by `tcpdump -w` (one, and one per hop in parallel: the manual method),
# in the same run, on one hop and on six hops of a forwarding chain at once.
#
# Topology (all in this script's own hscap-b namespaces, removed on exit):
#   b0 --l0-- b1 --l1-- b2 --l2-- b3 --l3-- b4 --l4-- b5 --l5-- b6
# b0 sends to 198.19.1.1 (blackholed in b1: crosses l0 only) for the one-hop runs and to
# 198.19.6.1 (blackholed in b6: crosses l0..l5) for the six-hop runs. Captures sit on the
# receiving end of each link. Sending is bounded: DURATION seconds per point.
#
# For each point it prints the rate reached, and per tool the packets lost by the capture:
# lost = min(sent, packets the interface received) - packets written to file, summed over hops,
# plus the kernel's own drop counter. Then the highest rate each tool captured without a loss.
#
# Usage: sudo scripts/bench/capture.sh   (env: ONE_HOP_RATES, SIX_HOP_RATES, DURATION, FRAME)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
ensure_swift

ONE_HOP_RATES=${ONE_HOP_RATES:-"50000 100000 150000 200000 250000 300000"}
SIX_HOP_RATES=${SIX_HOP_RATES:-"10000 20000 30000 40000 60000 80000"}
DURATION=${DURATION:-2}
FRAME=${FRAME:-1400}
P=hscap-b
WORK=$(mktemp -d /tmp/hscap-bench.XXXXXX)
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for i in 0 1 2 3 4 5 6; do ip netns del "$P$i" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "capture.sh: needs root (namespaces, captures)" >&2; exit 2; }
echo "building hopscope (release) and the sender..." >&2
swift build -c release --product hopscope >/dev/null
HOPSCOPE=$(swift build -c release --show-bin-path)/hopscope
gcc -O2 -Wall -o "$WORK/udp-sender" scripts/bench/udp-sender.c

for i in 0 1 2 3 4 5 6; do
  ip netns add "$P$i"
  ip -n "$P$i" link set lo up
  ip netns exec "$P$i" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
for k in 0 1 2 3 4 5; do
  ip link add "${P}l${k}a" netns "$P$k" type veth peer name "${P}l${k}b" netns "$P$((k + 1))"
  ip -n "$P$k" addr add "198.18.$k.1/24" dev "${P}l${k}a"
  ip -n "$P$((k + 1))" addr add "198.18.$k.2/24" dev "${P}l${k}b"
  ip -n "$P$k" link set "${P}l${k}a" up
  ip -n "$P$((k + 1))" link set "${P}l${k}b" up
done
ip -n "${P}0" route add 198.19.0.0/16 via 198.18.0.2
ip -n "${P}1" route add blackhole 198.19.1.0/24
for k in 1 2 3 4 5; do ip -n "$P$k" route add 198.19.6.0/24 via "198.18.$k.2"; done
ip -n "${P}6" route add blackhole 198.19.6.0/24
# Resolve every next hop before measuring.
ip netns exec "${P}0" "$WORK/udp-sender" 198.19.6.1 "$FRAME" 100 0.2 >/dev/null

hop_if() { echo "${P}l${1}b"; }      # capture interface of link $1
hop_ns() { echo "$P$(($1 + 1))"; }   # its namespace

rx_packets() {  # rx_packets LINK
  ip -n "$(hop_ns "$1")" -j -s link show "$(hop_if "$1")" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["rx"]["packets"])'
}

wait_for() {  # wait_for FILE TEXT: bounded wait for a readiness line
  for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "capture.sh: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

# measure TOOL NHOPS RATE -> prints "sent_rate lost kernel_drops"
measure() {
  local tool=$1 nhops=$2 rate=$3 dst links=() k
  if [ "$nhops" -eq 1 ]; then dst=198.19.1.1; links=(0); else dst=198.19.6.1; links=(0 1 2 3 4 5); fi
  rm -rf "$WORK/out"; mkdir -p "$WORK/out"
  local before=() pids=()
  for k in "${links[@]}"; do before+=("$(rx_packets "$k")"); done
  if [ "$tool" = hopscope ]; then
    local args=()
    for k in "${links[@]}"; do args+=(--on "$(hop_if "$k")@$(hop_ns "$k")"); done
    "$HOPSCOPE" capture "${args[@]}" -f udp -o "$WORK/out/h" --json >"$WORK/out/h.json" 2>"$WORK/out/h.err" &
    pids+=($!)
    wait_for "$WORK/out/h.err" "capturing on"
  else
    for k in "${links[@]}"; do
      ip netns exec "$(hop_ns "$k")" tcpdump -i "$(hop_if "$k")" -Z root -w "$WORK/out/t$k.pcap" udp 2>"$WORK/out/t$k.err" &
      pids+=($!)
    done
    for k in "${links[@]}"; do wait_for "$WORK/out/t$k.err" "listening on"; done
  fi
  PIDS=("${pids[@]}")
  local sent
  sent=$(ip netns exec "${P}0" "$WORK/udp-sender" "$dst" "$FRAME" "$rate" "$DURATION")
  # Longer than the 1 s block timeout tcpdump uses, so a partly filled kernel block is handed over
  # before the stop and is not counted as lost.
  sleep 1.5
  for pid in "${pids[@]}"; do kill -INT "$pid"; done
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  PIDS=()
  local count achieved lost=0 drops=0 i=0 captured kdrop arrived
  count=$(sed -E 's/.*sent=([0-9]+).*/\1/' <<<"$sent")
  achieved=$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$sent")
  for k in "${links[@]}"; do
    arrived=$(( $(rx_packets "$k") - before[i] ))
    [ "$arrived" -gt "$count" ] && arrived=$count
    if [ "$tool" = hopscope ]; then
      read -r captured kdrop < <(python3 -c 'import json,sys; h=json.load(open(sys.argv[1]))["hops"][int(sys.argv[2])]; print(h["packets"], h["kernelDropped"])' "$WORK/out/h.json" "$i")
    else
      captured=$(sed -nE 's/^([0-9]+) packets captured.*/\1/p' "$WORK/out/t$k.err")
      kdrop=$(sed -nE 's/^([0-9]+) packets dropped by kernel.*/\1/p' "$WORK/out/t$k.err")
    fi
    [ "$arrived" -gt "$captured" ] && lost=$(( lost + arrived - captured ))
    drops=$(( drops + kdrop ))
    i=$(( i + 1 ))
  done
  # Flush this run's files to disk now, so their writeback does not steal CPU from the next run.
  rm -rf "$WORK/out"; sync
  echo "$achieved $count $lost $drops"
}

declare -A best
report() {  # report NHOPS "RATES" TOOLS...
  local nhops=$1 rates=$2; shift 2
  printf '\n%d hop(s), %d-byte frames, %ss per rate\n' "$nhops" "$FRAME" "$DURATION"
  printf '%-22s %10s %10s %10s %10s %8s\n' tool target_pps sent_pps lost kern_drops lost%
  for rate in $rates; do
    for tool in "$@"; do
      read -r achieved count lost drops < <(measure "$tool" "$nhops" "$rate")
      local name
      if [ "$tool" = hopscope ]; then name="hopscope ($nhops hop)"; elif [ "$nhops" -eq 1 ]; then name=tcpdump; else name="tcpdump x$nhops"; fi
      printf '%-22s %10d %10d %10d %10d %8s\n' "$name" "$rate" "$achieved" "$lost" "$drops" \
        "$(python3 -c "print(f'{100*$lost/max(1,$count*$nhops):.3f}')")"
      if [ "$lost" -eq 0 ] && [ "$drops" -eq 0 ]; then
        [ "${best[$name]:-0}" -lt "$achieved" ] && best[$name]=$achieved
      fi
    done
  done
}

report 1 "$ONE_HOP_RATES" hopscope tcpdump
report 6 "$SIX_HOP_RATES" hopscope tcpdump

printf '\nhighest loss-free rate reached (packets/s per hop):\n'
for key in "hopscope (1 hop)" "tcpdump" "hopscope (6 hop)" "tcpdump x6"; do
  printf '  %-20s %s\n' "$key" "${best[$key]:-none}"
done
