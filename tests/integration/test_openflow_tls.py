"""OpenFlow over TLS (issue 9 §2): every switch of the demo tree connects through
the TLS-only listener (Ryu 4.34's own serves only the first) and a service is
provisioned across all seven; a peer without a certificate signed by the CA —
an OVS switch, a TLS client, or plain TCP — never becomes a switch."""

from __future__ import annotations

import socket
import ssl
import struct
import time
from pathlib import Path

import pytest

from metroshare.tls import openflow_certificates
from mininet_scenarios.network import MetroNetwork, SwitchTLS
from tests.e2e.metro import Metro, create_parties, create_service, mismatches, reachability
from tests.harness import METRO_YAML, Controller
from topology import load_topology

pytestmark = pytest.mark.network

ADMIN_TOKEN = "tls-test-admin-token"
OFP_HELLO = struct.pack("!BBHI", 4, 0, 8, 1)


def _tls_controller(workdir: Path, certs: dict[str, Path]) -> Controller:
    return Controller(workdir, admin_token=ADMIN_TOKEN, api_workers=0,
                      ofp_tls=(certs["controller_cert"], certs["controller_key"],
                               certs["ca_cert"]))


def _switch_tls(certs: dict[str, Path]) -> SwitchTLS:
    return SwitchTLS(certs["switch_cert"], certs["switch_key"], certs["ca_cert"])


def _connected(controller: Controller) -> int:
    return controller.session.get(f"{controller.url}/healthz",
                                  timeout=5).json()["switches_connected"]


def test_all_seven_switches_connect_over_tls_and_a_service_spans_them(network_lock,
                                                                      tmp_path: Path):
    certs = openflow_certificates(tmp_path)
    topology = load_topology(METRO_YAML)
    controller = _tls_controller(tmp_path, certs)
    controller.start()
    try:
        with MetroNetwork(topology, ("127.0.0.1", controller.ofp_port),
                          tls=_switch_tls(certs)) as net:
            world = Metro(controller, net, topology, create_parties(controller, topology),
                          tmp_path)
            world.wait_connected()
            # One service with a member on every access switch crosses all seven.
            _, took = create_service(world.parties, "multipoint-to-multipoint", "h1",
                                     ["h3", "h5", "h7"])
            print(f"acceptances over TLS: {', '.join(f'{t:.2f} s' for t in took)}")
            assert mismatches(topology, world.expected_tables(), tmp_path) == {}
            members = {"h1", "h3", "h5", "h7"}
            reached = reachability(net, topology)
            assert {(a, b) for a in members for b in members if a != b} <= reached
            assert not {pair for pair in reached if not set(pair) <= members}
            targets = net.switches[0].vsctl("get-controller", net.switches[0].name)
            assert targets.strip() == f"ssl:127.0.0.1:{controller.ofp_port}"
    finally:
        controller.stop()


def test_a_switch_whose_certificate_the_ca_did_not_sign_is_refused(network_lock,
                                                                  tmp_path: Path):
    certs = openflow_certificates(tmp_path)
    rogue_dir = tmp_path / "rogue"
    rogue_dir.mkdir()
    rogue = openflow_certificates(rogue_dir)  # same names, another CA
    topology = load_topology(METRO_YAML)
    controller = _tls_controller(tmp_path, certs)
    controller.start()
    try:
        # Rogue switches that trust the controller's CA but present a rogue certificate.
        with MetroNetwork(topology, ("127.0.0.1", controller.ofp_port),
                          tls=SwitchTLS(rogue["switch_cert"], rogue["switch_key"],
                                        certs["ca_cert"])):
            assert controller.wait_for_log("OpenFlow TLS connection from 127.0.0.1 refused")
            time.sleep(3)  # several reconnect attempts (max_backoff is 1 s)
            assert _connected(controller) == 0
        assert "switch acc1 " not in controller.log_text()
    finally:
        controller.stop()


def test_a_peer_without_a_signed_certificate_gets_no_openflow(tmp_path: Path):
    certs = openflow_certificates(tmp_path)
    rogue_dir = tmp_path / "rogue"
    rogue_dir.mkdir()
    rogue = openflow_certificates(rogue_dir)
    controller = _tls_controller(tmp_path, certs)
    controller.start()
    try:
        def hello(cert: tuple[Path, Path] | None) -> bytes:
            """The controller's first 8 bytes after ours; none when it refuses us."""
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.load_verify_locations(certs["ca_cert"])
            if cert:
                context.load_cert_chain(*cert)
            try:
                with context.wrap_socket(socket.create_connection(
                        ("127.0.0.1", controller.ofp_port), timeout=10)) as tls:
                    tls.sendall(OFP_HELLO)
                    return tls.recv(8)
            except (ssl.SSLError, ConnectionError):
                return b""  # TLS 1.3: the refusal may come as an alert after our request

        for cert in (None, (rogue["switch_cert"], rogue["switch_key"])):
            assert hello(cert) == b""
        with socket.create_connection(("127.0.0.1", controller.ofp_port), timeout=5) as plain:
            plain.sendall(OFP_HELLO)
            try:
                answer = plain.recv(8)
            except ConnectionError:
                answer = b""
            assert answer[:2] != b"\x04\x00"  # no OpenFlow HELLO over plain TCP
        # A signed peer is still served, after the refusals and more than once.
        for _ in range(3):
            assert hello((certs["switch_cert"], certs["switch_key"]))[:2] == b"\x04\x00"
        assert controller.wait_for_log("refused: [SSL: PEER_DID_NOT_RETURN_A_CERTIFICATE]")
    finally:
        controller.stop()
