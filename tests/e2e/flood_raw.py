"""Writes raw Ethernet frames (hex) to an interface as fast as it can for a
while, round robin; prints how many were sent. Usage: flood_raw.py IFACE SECONDS HEX..."""

import socket
import sys
import time

frames = [bytes.fromhex(f) for f in sys.argv[3:]]
sent = 0
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((sys.argv[1], 0))
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        for frame in frames * 64:
            try:
                sock.send(frame)
                sent += 1
            except OSError:  # the veth queue is full: keep pushing
                pass
print(f"sent {sent}")
