"""A self-signed certificate for serving the API over HTTPS on this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed_certificate(folder: Path, days: int = 30) -> tuple[Path, Path]:
    """Write cert.pem and key.pem (RSA 2048, for 127.0.0.1 and localhost) into
    `folder`; returns their paths. Needs the `openssl` command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    key.chmod(0o600)
    return cert, key
