#!/usr/bin/env python3
"""Records tshark's decode of the shared captures as slim JSON fixtures for the Packets tests.

For every capture under ../shared/data/pcap and the lab's captures/ (first 200 packets each), runs
`tshark -T json --no-duplicate-keys` with reassembly off and raw sequence numbers, keeps the
fields of the protocols Hopscope decodes (eth, ieee8021ad, vlan, sll, arp, ip, ipv6, icmp, icmpv6, udp, tcp,
dhcp, dns, vxlan, gre, geneve), and writes Tests/PacketsTests/Fixtures/tshark/<path>.json:

    {"tshark": "<version>", "packets": [ {"ip": [ {"ip.src": ["10.0.0.1"], ...}, ...], ...}, ... ]}

Each protocol maps to one flattened field dict per instance (outer first, then tunnelled), each
field to the list of its values in tshark's order. Re-run after changing the tshark options (arguments, if any, keep only paths containing them):
    python3 scripts/oracle/record-tshark.py [PATH-PART ...]
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "pcap"))
OUT = os.path.join(ROOT, "Tests", "PacketsTests", "Fixtures", "tshark")
PROTOCOLS = ["eth", "ieee8021ad", "vlan", "sll", "arp", "ip", "ipv6", "icmp", "icmpv6", "udp", "tcp", "dhcp", "dns", "vxlan", "gre", "geneve"]
DROP_SUFFIXES = ("_host", ".host", ".addr", "_resolved", ".oui", "payload", ".time", ".stream", "status", "_tree")
MAX_PACKETS = 200
OPTIONS = [
    "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
    "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
    "-o", "dns.desegment_dns_messages:FALSE", "-o", "ip.check_checksum:FALSE",
    # Hopscope decodes Linux's default VXLAN port too.
    "-d", "udp.port==8472,vxlan",
]


def flatten(value, prefix, out):
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and not (isinstance(item, list) and all(isinstance(x, str) for x in item)):
                # A nested protocol (the datagram an ICMP error quotes) is another layer: skip it.
                if key in PROTOCOLS and key != prefix:
                    continue
                flatten(item, prefix, out)
            elif key.startswith(prefix + ".") and not key.endswith(DROP_SUFFIXES) and len(key) < 80:
                values = item if isinstance(item, list) else [item]
                out.setdefault(key, []).extend(v for v in values if len(v) <= 120)
    elif isinstance(value, list):
        for item in value:
            flatten(item, prefix, out)


def record(path):
    proc = subprocess.run(["tshark", "-n", "-r", path, "-c", str(MAX_PACKETS), "-T", "json", "--no-duplicate-keys"] + OPTIONS,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    packets = []
    for packet in json.loads(proc.stdout):
        layers = packet["_source"]["layers"]
        # tshark lists pcapng custom blocks as frames (without an encapsulation type); libpcap
        # (and so Hopscope) does not.
        if "frame.encap_type" not in layers.get("frame", {}):
            continue
        slim = {}
        for proto in PROTOCOLS:
            if proto not in layers:
                continue
            instances = layers[proto] if isinstance(layers[proto], list) else [layers[proto]]
            slim[proto] = []
            for instance in instances:
                fields = {}
                flatten(instance, proto, fields)
                slim[proto].append(fields)
        packets.append(slim)
    return packets


LAB = os.path.join(ROOT, "captures")


def main():
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    count = 0
    # The lab's reference captures (captures/*.pcap) go to Fixtures/tshark/lab/.
    for name in sorted(os.listdir(LAB)) if os.path.isdir(LAB) else []:
        if name.endswith(".pcap") and (len(sys.argv) == 1 or any(part in name for part in sys.argv[1:])):
            packets = record(os.path.join(LAB, name))
            if packets is not None:
                os.makedirs(os.path.join(OUT, "lab"), exist_ok=True)
                with open(os.path.join(OUT, "lab", name + ".json"), "w") as f:
                    json.dump({"tshark": version, "packets": packets}, f, separators=(",", ":"), sort_keys=True)
                count += 1
    for directory, _, files in sorted(os.walk(SHARED)):
        for name in sorted(files):
            if not (name.endswith(".pcap") or name.endswith(".pcapng")):
                continue
            if len(sys.argv) > 1 and not any(part in os.path.join(directory, name) for part in sys.argv[1:]):
                continue
            path = os.path.join(directory, name)
            packets = record(path)
            if packets is None:
                continue
            rel = os.path.relpath(path, SHARED)
            target = os.path.join(OUT, rel + ".json")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                json.dump({"tshark": version, "packets": packets}, f, separators=(",", ":"), sort_keys=True)
            count += 1
    print(f"recorded {count} captures into {os.path.relpath(OUT, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
