"""A stranger that claims the dpid of a connected switch is closed, not adopted:
the live switch keeps its rules and keeps receiving changes (issue 9 §2)."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.metro import create_service, mismatches, reachability, running_metro, wait_until

pytestmark = pytest.mark.network

OFP_VERSION = 4  # OpenFlow 1.3
HELLO, ECHO_REQUEST, ECHO_REPLY, FEATURES_REQUEST, FEATURES_REPLY = 0, 2, 3, 5, 6
PORT_STATUS, MULTIPART_REQUEST, MULTIPART_REPLY, BARRIER_REQUEST, BARRIER_REPLY = 12, 18, 19, 20, 21
OFPMP_PORT_DESC, OFPPR_MODIFY, OFPPC_PORT_DOWN, OFPPS_LINK_DOWN = 13, 2, 1, 1


class FakeSwitch:
    """A hand-made OpenFlow 1.3 "switch": HELLO, a FEATURES_REPLY with the dpid it
    claims, empty multipart replies, and it answers echo and barrier requests —
    as convincing a liar as a plain socket can be."""

    def __init__(self, port: int, dpid: int, down_port: int) -> None:
        self.dpid, self.down_port = dpid, down_port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.received: list[int] = []  # message types, in order
        self.closed = threading.Event()
        self._send(HELLO, 1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _send(self, msg_type: int, xid: int, body: bytes = b"") -> None:
        self.sock.sendall(struct.pack("!BBHI", OFP_VERSION, msg_type, 8 + len(body), xid) + body)

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            while True:
                _version, msg_type, length, xid = struct.unpack("!BBHI", self._recv_exact(8))
                body = self._recv_exact(length - 8)
                self.received.append(msg_type)
                if msg_type == ECHO_REQUEST:
                    self._send(ECHO_REPLY, xid, body)
                elif msg_type == FEATURES_REQUEST:
                    # datapath_id, n_buffers, n_tables, auxiliary_id, pad, capabilities, reserved
                    self._send(FEATURES_REPLY, xid, struct.pack("!QIBB2xII", self.dpid, 0, 254,
                                                                0, 0, 0))
                elif msg_type == MULTIPART_REQUEST:  # whatever is asked: nothing, and no more
                    multipart = body[0] << 8 | body[1]
                    self._send(MULTIPART_REPLY, xid, struct.pack("!HH4x", multipart, 0))
                    if multipart == OFPMP_PORT_DESC:  # handshake done: lie about a fiber port
                        self._send(PORT_STATUS, 0, self._port_down())
                elif msg_type == BARRIER_REQUEST:
                    self._send(BARRIER_REPLY, xid)
        except (EOFError, OSError):
            pass
        finally:
            self.closed.set()

    def _port_down(self) -> bytes:
        name = f"s{self.dpid}-eth{self.down_port}".encode()
        port = struct.pack("!I4x6s2x16sIIIIIIII", self.down_port, b"\x02" * 6, name,
                           OFPPC_PORT_DOWN, OFPPS_LINK_DOWN, 0, 0, 0, 0, 0, 0)
        return struct.pack("!B7x", OFPPR_MODIFY) + port

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def test_openflow_listens_on_loopback_by_default(controller):
    """The README promises loopback; Ryu alone would listen on every address."""
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{controller.ofp_port}"],
                               capture_output=True, text=True, check=True).stdout.split()
    assert listening and listening[3] == f"127.0.0.1:{controller.ofp_port}", listening


def test_a_second_connection_claiming_a_live_dpid_is_closed_not_adopted(network_lock,
                                                                         tmp_path: Path):
    with running_metro(tmp_path) as world:
        create_service(world.parties, "point-to-point", "h1", ["h3"])
        acc1 = world.topology.switches["acc1"]
        assert mismatches(world.topology, world.expected_tables(), tmp_path) == {}

        impostor = FakeSwitch(world.controller.ofp_port, acc1.dpid, down_port=1)
        try:
            assert impostor.closed.wait(20), "the impostor's connection was not closed"
            assert FEATURES_REQUEST in impostor.received  # it got as far as claiming the dpid
            assert world.controller.wait_for_log(
                "refused a second connection claiming switch acc1", timeout=5)
        finally:
            impostor.close()

        # The live switch still holds every rule, and is still the one that is connected.
        assert mismatches(world.topology, world.expected_tables(), tmp_path) == {}
        topology = world.controller.api().call("GET", "/topology")
        assert all(s["connected"] for s in topology["switches"])
        assert all(link["up"] for link in topology["links"]), "the impostor's port status counted"

        # A change after the attempt still reaches it: h2 sits on acc1 as well.
        start = time.monotonic()
        create_service(world.parties, "point-to-point", "h2", ["h4"])
        print(f"acceptance after the impostor: {time.monotonic() - start:.2f} s")
        assert mismatches(world.topology, world.expected_tables(), tmp_path) == {}
        wait_until(lambda: {("h1", "h3"), ("h2", "h4")} <= reachability(world.net, world.topology),
                   20, "both services to carry frames")
