"""Certificates for this machine: a self-signed one for the API over HTTPS, and a
small certificate authority for OpenFlow over TLS (the demo and the tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed_certificate(folder: Path, days: int = 30) -> tuple[Path, Path]:
    """Write cert.pem and key.pem (RSA 2048, for 127.0.0.1 and localhost) into
    `folder`; returns their paths. Needs the `openssl` command."""
    return certificate_authority(folder, "127.0.0.1", days, stem="",
                                 san="IP:127.0.0.1,DNS:localhost")


def certificate_authority(folder: Path, name: str = "metroshare CA", days: int = 30,
                          stem: str = "ca-", san: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate that can sign others: `{stem}cert.pem` and
    `{stem}key.pem` (mode 0600) in `folder`."""
    cert, key = folder / f"{stem}cert.pem", folder / f"{stem}key.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
             "-subj", f"/CN={name}", *(["-addext", f"subjectAltName={san}"] if san else []),
             "-keyout", str(key), "-out", str(cert))
    key.chmod(0o600)
    return cert, key


def signed_certificate(folder: Path, name: str, ca: tuple[Path, Path],
                       days: int = 30) -> tuple[Path, Path]:
    """`{name}-cert.pem` and `{name}-key.pem` in `folder`, signed by `ca` (cert, key)."""
    cert, key, request = (folder / f"{name}-{part}.pem" for part in ("cert", "key", "req"))
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
             "-keyout", str(key), "-out", str(request))
    key.chmod(0o600)
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-CAcreateserial", "-CAserial", str(folder / "ca.srl"), "-days", str(days),
             "-out", str(cert))
    request.unlink()
    return cert, key


def openflow_certificates(folder: Path, days: int = 30) -> dict[str, Path]:
    """A CA and, signed by it, a certificate for the controller and one that every
    switch presents (OVS takes one per host: `ovs-vsctl set-ssl` is global)."""
    ca = certificate_authority(folder, "metroshare OpenFlow CA", days)
    controller = signed_certificate(folder, "controller", ca, days)
    switch = signed_certificate(folder, "switch", ca, days)
    return {"ca_cert": ca[0], "controller_cert": controller[0], "controller_key": controller[1],
            "switch_cert": switch[0], "switch_key": switch[1]}
