"""Writes raw Ethernet frames (hex) to an interface: tagged or spoofed frames
without the kernel's 8021q module. Usage: send_raw.py IFACE HEX..."""

import socket
import sys

with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
    sock.bind((sys.argv[1], 0))
    for frame in sys.argv[2:]:
        sock.send(bytes.fromhex(frame))
