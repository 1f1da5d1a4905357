#!/usr/bin/env bash
# Benchmark: Hopscope's inventory of 100 namespaces (about 40 links each) against the same facts
# read with an `ip -j` + `bridge -j` loop and against a minimal libmnl C program (the floor), all
# in the same run. Needs root. Creates hsnl-bench-* namespaces and always deletes them (trap).
#
# usage: scripts/bench/netlink.sh [NAMESPACES]     (default 100)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh
ensure_swift
[ "$(id -u)" -eq 0 ] || { echo "netlink.sh: needs root (it creates network namespaces)" >&2; exit 2; }

COUNT=${1:-100}
PREFIX=hsnl-bench
WORK=$(mktemp -d /tmp/hsnl-bench.XXXXXX)

cleanup() {
  local ns
  for ns in $(ip netns list | awk -v p="^$PREFIX-" '$1 ~ p {print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup_only_ours_check() { ip netns list | awk -v p="^$PREFIX-" '$1 ~ p' | wc -l; }
[ "$(cleanup_only_ours_check)" -eq 0 ] || { echo "netlink.sh: $PREFIX-* namespaces exist already; delete them first" >&2; exit 2; }

echo "building (release) ..." >&2
swift build -c release --product hopscope >/dev/null
HOPSCOPE=$(swift build -c release --show-bin-path)/hopscope
gcc -O2 -Wall -o "$WORK/floor" scripts/bench/netlink_floor.c -lmnl

echo "creating $COUNT namespaces with about 40 links each ..." >&2
NAMES=()
for i in $(seq 0 $((COUNT - 1))); do NAMES+=("$PREFIX-$i"); ip netns add "$PREFIX-$i"; done
for i in $(seq 0 $((COUNT - 1))); do
  ns=$PREFIX-$i
  b=$WORK/$ns.batch
  {
    echo "link set lo up"
    echo "link add br0 type bridge"
    echo "link set br0 up"
    echo "addr add 10.$((i / 250)).$((i % 250)).1/24 dev br0"
    echo "addr add 2001:db8:$i::1/64 dev br0 nodad"
    for p in $(seq 1 18); do
      echo "link add p$p type veth peer name q$p"
      echo "link set p$p master br0"
      echo "link set p$p up"
      echo "link set q$p up"
      echo "addr add 198.18.$p.$((i % 250 + 1))/24 dev q$p"
    done
    for r in $(seq 1 10); do
      echo "route add 203.0.$r.0/24 via 10.$((i / 250)).$((i % 250)).2 dev br0 table 100"
    done
    echo "route add default via 10.$((i / 250)).$((i % 250)).254 dev br0"
    echo "rule add from 10.0.0.0/8 lookup 100 priority 1000"
    for n in $(seq 1 10); do
      echo "neigh add 10.$((i / 250)).$((i % 250)).$((n + 10)) lladdr 02:00:00:00:$(printf %02x $n):01 dev br0 nud permanent"
    done
  } > "$b"
  ip -n "$ns" -batch "$b"
  for n in $(seq 1 5); do bridge -n "$ns" fdb add 02:00:00:00:$(printf %02x $n):02 dev p1 master static; done
  # A veth to the next namespace, so peers cross namespaces (two such ends per namespace).
  if [ "$i" -gt 0 ]; then
    ip -n "$PREFIX-$((i - 1))" link add xnext type veth peer name xprev netns "$ns"
    ip -n "$PREFIX-$((i - 1))" link set xnext up
    ip -n "$ns" link set xprev up
  fi
done
sleep 1

NSARGS=()
for n in "${NAMES[@]}"; do NSARGS+=(-n "$n"); done

calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
now_ms() { date +%s%N | awk '{printf "%.1f", $1 / 1e6}'; }

ip_loop() {
  local ns
  for ns in "${NAMES[@]}"; do
    ip -n "$ns" -j -d link show >/dev/null
    ip -n "$ns" -j addr show >/dev/null
    ip -n "$ns" -j -4 route show table all >/dev/null
    ip -n "$ns" -j -6 route show table all >/dev/null
    ip -n "$ns" -j rule show >/dev/null
    ip -n "$ns" -j neigh show >/dev/null
    bridge -n "$ns" -j fdb show >/dev/null
  done
}

# Warm up caches once, then take the best of 5 runs of each.
"$HOPSCOPE" inventory "${NSARGS[@]}" --netlink-only --timing >/dev/null
"$WORK/floor" "${NAMES[@]}" >/dev/null
best() { sort -n | head -1; }
H_IN=(); H1_IN=(); H_WALL=(); F_IN=(); F_WALL=(); IP_WALL=()
for run in 1 2 3 4 5; do
  t=$(now_ms); out=$("$HOPSCOPE" inventory "${NSARGS[@]}" --netlink-only --timing); H_WALL+=("$(calc "$(now_ms) - $t")")
  H_IN+=("$(echo "$out" | sed -E 's/.*inventory_ms=([0-9.]+).*/\1/')"); SUMMARY=$out
  out1=$("$HOPSCOPE" inventory "${NSARGS[@]}" --netlink-only --timing --jobs 1); H1_IN+=("$(echo "$out1" | sed -E 's/.*inventory_ms=([0-9.]+).*/\1/')")
  t=$(now_ms); fout=$("$WORK/floor" "${NAMES[@]}"); F_WALL+=("$(calc "$(now_ms) - $t")")
  F_IN+=("$(echo "$fout" | sed -E 's/.*floor_ms=([0-9.]+).*/\1/')"); FSUMMARY=$fout
done
for run in 1 2; do t=$(now_ms); ip_loop; IP_WALL+=("$(calc "$(now_ms) - $t")"); done
FULL=$("$HOPSCOPE" inventory "${NSARGS[@]}" --timing)

h=$(printf '%s\n' "${H_IN[@]}" | best); h1=$(printf '%s\n' "${H1_IN[@]}" | best); hw=$(printf '%s\n' "${H_WALL[@]}" | best)
f=$(printf '%s\n' "${F_IN[@]}" | best); fw=$(printf '%s\n' "${F_WALL[@]}" | best); ipw=$(printf '%s\n' "${IP_WALL[@]}" | best)
echo
echo "Hopscope: $SUMMARY"
echo "C floor:  $FSUMMARY"
echo "full inventory (with /proc processes and sysctls): $FULL"
echo
printf '%-58s %10s\n' "measurement (best of runs)" "ms"
printf '%-58s %10.1f\n' "(a) hopscope inventory, in-process, parallel" "$h"
printf '%-58s %10.1f\n' "(a) hopscope inventory, in-process, one namespace at a time" "$h1"
printf '%-58s %10.1f\n' "(a) hopscope inventory, whole process" "$hw"
printf '%-58s %10.1f\n' "(b) ip -j / bridge -j loop, whole processes" "$ipw"
printf '%-58s %10.1f\n' "(c) libmnl C floor, in-process, one thread" "$f"
printf '%-58s %10.1f\n' "(c) libmnl C floor, whole process" "$fw"
echo
printf 'ratio hopscope/floor (in-process, parallel):        %.2fx   (target <= 1.5x)\n' "$(calc "$h / $f")"
printf 'ratio hopscope/floor (in-process, one at a time):   %.2fx\n' "$(calc "$h1 / $f")"
printf 'ratio hopscope/floor (whole process):               %.2fx\n' "$(calc "$hw / $fw")"
printf 'ratio ip loop/hopscope (whole process):             %.1fx faster\n' "$(calc "$ipw / $hw")"
printf 'ratio ip loop/floor (whole process):                %.1fx\n' "$(calc "$ipw / $fw")"
