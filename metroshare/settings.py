"""What `metroshare controller` was asked to run with, and the admin token."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger("metroshare")
ADMIN_TOKEN_ENV = "METROSHARE_ADMIN_TOKEN"


@dataclass(frozen=True)
class Settings:
    topology_path: Path
    db: str
    ofp_port: int = 6653
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_workers: int = 2  # processes that answer reads beside the controller (0: none)


def admin_token_path(db: str) -> Path:
    return Path(f"{db}.admin-token")


def resolve_admin_token(db: str) -> str:
    """The admin token: from the environment, else the one stored beside the
    database, else a new random one written there with mode 0600 (CONTRACT §1)."""
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        return token
    path = admin_token_path(db)
    if path.exists():
        token = path.read_text().strip()
        if token:
            LOG.info("admin token read from %s", path)
            return token
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    LOG.warning("admin token generated and stored in %s (mode 0600)", path)
    return token
