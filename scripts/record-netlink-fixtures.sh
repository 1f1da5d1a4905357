#!/usr/bin/env bash
# Records rtnetlink dump replies from the running kernel into Tests/NetlinkTests/Fixtures: a
# namespace with a bridge, veth ports (one peer in a second namespace) and a vxlan device; the raw
# reply messages (nlmsghdr included) of RTM_GETLINK, RTM_GETADDR and RTM_GETROUTE dumps, and
# `ip -j` of the same namespace as the expected decode. Needs root; deletes what it creates.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=Tests/NetlinkTests/Fixtures
A=hsnl-rec-a B=hsnl-rec-b
trap 'ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true' EXIT
ip netns add $A; ip netns add $B
ip -n $A link add br0 type bridge
ip -n $A link add tap1 type veth peer name eth0 netns $B
ip -n $A link add qvb1 type veth peer name qvo1
ip -n $A link set tap1 master br0; ip -n $A link set qvb1 master br0
ip -n $A link add vxlan-42 type vxlan id 42 local 192.0.2.1 remote 198.51.100.7 dstport 4789 dev qvo1
for d in lo br0 tap1 qvb1 qvo1 vxlan-42; do ip -n $A link set $d up; done
ip -n $A addr add 192.0.2.1/24 dev br0
ip -n $A addr add 2001:db8:42::1/64 dev br0 nodad
ip -n $A route add 203.0.113.0/24 via 192.0.2.254 table 100
sleep 0.5
ip netns exec $A python3 - "$OUT" <<'PY'
import socket, struct, sys
out = sys.argv[1]
def dump(msg_type, header, name):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    req = struct.pack("=LHHLL", 16 + len(header), msg_type, 0x301, 1, 0) + header
    s.send(req)
    data = b""
    while True:
        chunk = s.recv(65536)
        data += chunk
        off, done = 0, False
        while off < len(chunk):
            length, t = struct.unpack_from("=LH", chunk, off)
            if t == 3: done = True
            off += (length + 3) & ~3
        if done: break
    open(f"{out}/{name}.bin", "wb").write(data)
dump(18, bytes(16), "kernel-links")
dump(22, bytes(8), "kernel-addresses")
dump(26, bytes(12), "kernel-routes")
PY
ip -n $A -d -j link show > $OUT/kernel-links.ip.json
ip -n $A -j addr show > $OUT/kernel-addresses.ip.json
ip -n $A -j -4 route show table all > $OUT/kernel-routes-v4.ip.json
echo "recorded into $OUT"
