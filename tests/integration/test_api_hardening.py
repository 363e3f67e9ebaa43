"""A slow or greedy client cannot hold the API: header deadline, TLS handshake
deadline, and the request rate per token (429 with Retry-After) — against the
real controller, with and without API workers, over real sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from metroshare.tls import self_signed_certificate
from northbound.http_server import HEADER_DEADLINE_S
from tests.harness import Controller

ADMIN = "hardening-admin-token"
SLOW_CLIENTS = 200
PROMPT_S = 2.0  # "promptly": far below the header deadline
CLOSED_WITHIN_S = HEADER_DEADLINE_S + 5


@contextmanager
def controller(tmp_path: Path, api_workers: int, *args: str,
               tls: tuple[Path, Path] | None = None) -> Iterator[Controller]:
    server = Controller(tmp_path, tls=tls, admin_token=ADMIN, api_workers=api_workers)
    server.extra_args = list(args)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes `sock` (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("api_workers", [0, 2])
def test_half_request_lines_do_not_hold_the_server(tmp_path: Path, api_workers: int) -> None:
    with controller(tmp_path, api_workers) as server:
        slow = []
        try:
            for _ in range(SLOW_CLIENTS):
                sock = socket.create_connection(("127.0.0.1", server.api_port), timeout=5)
                sock.sendall(b"GET /api/v1/par")  # and never the rest
                slow.append(sock)
            started = time.monotonic()
            answer = requests.get(f"{server.url}/api/v1/parties", timeout=PROMPT_S,
                                  headers={"Authorization": f"Bearer {ADMIN}"})
            took = time.monotonic() - started
            print(f"answered in {took * 1000:.1f} ms beside {SLOW_CLIENTS} slow clients")
            assert answer.status_code == 200 and took < PROMPT_S
            assert all(closed_by_server(sock, CLOSED_WITHIN_S) for sock in slow[:5])
        finally:
            for sock in slow:
                sock.close()
        # A kept-alive connection may still idle between requests for longer.
        with requests.Session() as session:
            assert session.get(f"{server.url}/healthz", timeout=5).ok
            time.sleep(HEADER_DEADLINE_S + 1)
            assert session.get(f"{server.url}/healthz", timeout=5).ok


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), days=1)


@pytest.mark.parametrize("api_workers", [0, 2])
def test_a_stalled_tls_handshake_does_not_block_others(
        tmp_path: Path, certificate: tuple[Path, Path], api_workers: int) -> None:
    with controller(tmp_path, api_workers, tls=certificate) as server:
        silent = socket.create_connection(("127.0.0.1", server.api_port), timeout=5)
        half = socket.create_connection(("127.0.0.1", server.api_port), timeout=5)
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello begun
        try:
            started = time.monotonic()
            answer = requests.get(f"{server.url}/healthz", timeout=PROMPT_S,
                                  verify=str(certificate[0]))
            assert answer.ok and time.monotonic() - started < PROMPT_S
            assert closed_by_server(silent, CLOSED_WITHIN_S)
            assert closed_by_server(half, CLOSED_WITHIN_S)
        finally:
            silent.close()
            half.close()


@pytest.mark.parametrize("api_workers", [0, 2])
def test_a_token_over_its_rate_gets_429_with_retry_after(tmp_path: Path,
                                                         api_workers: int) -> None:
    rate, burst = 2, 10
    with controller(tmp_path, api_workers, "--api-rate", str(rate),
                    "--api-burst", str(burst)) as server:
        started = time.monotonic()
        codes = []
        for _ in range(40):
            answer = server.call("GET", "/api/v1/parties", ADMIN)
            codes.append(answer.status_code)
            if answer.status_code == 429:
                assert answer.json()["error"]["code"] == "rate_limited"
                assert int(answer.headers["Retry-After"]) >= 1
        elapsed = time.monotonic() - started
        passed = codes.count(200)
        # The whole controller stays within burst + rate x time, however many processes.
        assert 1 <= passed <= burst + rate * elapsed + 1, codes
        assert codes.count(429) == len(codes) - passed
        # Not limited: /healthz and the UI; another token has its own bucket.
        assert all(server.call("GET", "/healthz", None).ok for _ in range(20))
        assert all(server.call("GET", "/", None).ok for _ in range(20))
        assert server.call("GET", "/api/v1/parties", "another").status_code == 401
