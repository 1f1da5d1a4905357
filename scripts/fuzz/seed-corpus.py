#!/usr/bin/env python3
"""Writes every frame of the shared classic-pcap captures as a fuzz seed: one file per frame,
first byte the index of its link type in FuzzPackets.swift's list, then the frame bytes."""
import os
import struct
import sys

LINK_INDEX = {1: 0, 113: 1, 276: 2, 12: 3, 101: 4, 228: 5, 229: 6, 0: 7, 108: 8}
root, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
count = 0
for directory, _, files in os.walk(root):
    for name in files:
        if not name.endswith(".pcap"):
            continue
        data = open(os.path.join(directory, name), "rb").read()
        if len(data) < 24:
            continue
        magic = data[:4]
        if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
            endian = "<"
        elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
            endian = ">"
        else:
            continue
        link = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
        if link not in LINK_INDEX:
            continue
        pos = 24
        while pos + 16 <= len(data) and count < 20000:
            caplen = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
            frame = data[pos + 16:pos + 16 + min(caplen, 65536)]
            pos += 16 + caplen
            with open(os.path.join(out, f"seed-{count:05d}"), "wb") as f:
                f.write(bytes([LINK_INDEX[link]]) + frame)
            count += 1
print(f"{count} seeds in {out}")
