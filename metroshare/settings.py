"""What `metroshare controller` was asked to run with, and the admin token."""

from __future__ import annotations

import errno
import fcntl
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
    db_connections: int = 30  # per process on PostgreSQL (controller.store.DB_CONNECTIONS)
    api_rate: float = 1000.0  # API requests per second per token, whole controller (0: off)
    api_burst: float = 1000.0  # requests a token may send at once above the rate
    insecure_http: bool = False  # plain HTTP allowed on a non-loopback --api-host
    instance: str = ""  # this controller's name among several (default: host:api-port)
    webhook_retry_base: float = 1.0  # seconds: the first retry's wait; the schedule scales with it


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
    if not is_sqlite_path(db):
        return  # a database server: no file here
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


class DatabaseInUseError(Exception):
    """Another controller runs on this SQLite database."""


def lock_sqlite_database(db: str) -> int:
    """Hold an exclusive flock on `<db>.lock` for the process's life (the kernel
    releases it on any exit, kill -9 included): SQLite is for one controller.
    Returns the open descriptor, to be kept open; raises DatabaseInUseError."""
    path = Path(f"{db}.lock")
    _check_private(path, create=True)
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseInUseError(
            f"the database {db} is in use by another controller; to run several, "
            "use PostgreSQL (--db postgresql://...)") from None
    return fd


def _database_admin_token(db: str) -> str:
    """The first controller stores a random token; the others (racing or later) read it."""
    from sqlalchemy import insert, select

    from controller.schema import admin_token
    from controller.store import open_store

    store = open_store(db)
    try:
        with store.transaction() as conn:  # behind the write gate: one inserts, the rest read
            token = conn.execute(select(admin_token.c.token)
                                 .where(admin_token.c.id == 1)).scalar()
            if token is None:
                token = secrets.token_urlsafe(32)
                conn.execute(insert(admin_token).values(id=1, token=token))
    finally:
        store.close()
    LOG.warning("admin token kept in the database's admin_token table")
    return token


def admin_token_path(db: str) -> Path:
    return Path(f"{db}.admin-token")


def resolve_admin_token(db: str) -> str:
    """The admin token: from the environment, else the one stored beside the
    database, else a new random one written there with mode 0600 (CONTRACT §1).
    On a database server the controllers sharing it share the token kept in it."""
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        return token
    if not is_sqlite_path(db):
        return _database_admin_token(db)
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
