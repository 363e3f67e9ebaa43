"""What `metroshare controller` was asked to run with, and the admin token."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger("metroshare")
ADMIN_TOKEN_ENV = "METROSHARE_ADMIN_TOKEN"


@dataclass(frozen=True)
class Settings:
    topology_path: Path
    db: str
    ofp_port: int = 6653
    ofp_host: str = "127.0.0.1"  # OpenFlow listen address
    ofp_tls: tuple[Path, Path, Path] | None = None  # (cert, key, CA cert): OpenFlow over TLS only
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    api_workers: int = 2  # processes that answer reads beside the controller (0: none)
    api_rate: float = 1000.0  # API requests per second per token, whole controller (0: off)
    api_burst: float = 1000.0  # requests a token may send at once above the rate
    insecure_http: bool = False  # plain HTTP allowed on a non-loopback --api-host


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class UnsafeFileError(Exception):
    """A file beside the controller that another user could read or swap."""


def is_sqlite_path(db: str) -> bool:
    return "://" not in db


def secure_local_files(db: str) -> None:
    """The SQLite database (created now if missing, mode 0600: SQLite gives its
    WAL files the database's mode) and `<db>.admin-token` (if there) must be
    regular files of this user; a symbolic link or another user's file is refused."""
    if is_sqlite_path(db):
        _check_private(Path(db), create=True)
    _check_private(admin_token_path(db), create=False)


def _check_private(path: Path, create: bool) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path}: is a symbolic link; refusing to follow it") from None
        raise UnsafeFileError(f"{path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path}: not a regular file")
        if info.st_uid != os.geteuid():
            raise UnsafeFileError(f"{path}: owned by uid {info.st_uid}, not by this user "
                                  f"(uid {os.geteuid()}); refusing to use it")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
            LOG.warning("%s was open to other users: now mode 0600", path)
    finally:
        os.close(fd)


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
    # Never through a link an attacker planted, nor into another user's file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        if os.fstat(fd).st_uid != os.geteuid():
            raise UnsafeFileError(f"{path}: owned by another user; refusing to use it")
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        f.write(token + "\n")
    LOG.warning("admin token generated and stored in %s (mode 0600)", path)
    return token
