"""`--tls-cert/--tls-key`: the API and UI over HTTPS with a generated self-signed cert."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest
import requests

from metroshare.tls import self_signed_certificate
from tests.harness import running_controller
from tests.integration.test_api_server import ADMIN


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), days=1)


def test_api_and_ui_over_https(certificate: tuple[Path, Path], tmp_path: Path) -> None:
    with running_controller(tmp_path, tls=certificate, admin_token=ADMIN) as server:
        assert server.url.startswith("https://")
        health = server.call("GET", "/healthz", None)
        assert health.json()["status"] == "ok"
        for answer in (health, server.call("GET", "/api/v1/parties", "wrong"),
                       server.call("GET", "/api/v1/me", ADMIN), server.call("GET", "/", None)):
            assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert server.call("GET", "/api/v1/parties", ADMIN).json() == []
        assert server.call("GET", "/api/v1/parties", "wrong").status_code == 401
        assert "<svg" in server.call("GET", "/", None).text
        with pytest.raises(requests.exceptions.SSLError):  # not trusted without the cert
            requests.get(f"{server.url}/healthz", timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError):  # no plain HTTP on this port
            requests.get(server.url.replace("https", "http") + "/healthz", timeout=5)
        context = ssl.create_default_context(cafile=str(certificate[0]))
        with socket.create_connection(("127.0.0.1", server.api_port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"Authorization: Bearer " + ADMIN.encode() + b"\r\n\r\n")
            assert tls.recv(100).startswith(b"HTTP/1.1 403")
