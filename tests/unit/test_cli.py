"""The command line's contract: exit 2 and one line naming the culprit."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from metroshare.cli import parser
from metroshare.settings import (
    ADMIN_TOKEN_ENV,
    DatabaseInUseError,
    admin_token_path,
    lock_sqlite_database,
    resolve_admin_token,
    secure_local_files,
)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metroshare.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_bad_topology_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("switches:\n  s1: {dpid: 1, role: core}\n  s2: {dpid: 1, role: access}\n"
                   "links:\n  - [s1:1, s2:1]\n")
    for cmd in (["controller", "--db", str(tmp_path / "db")], ["mininet"]):
        result = run(*cmd, "--topology", str(bad))
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert lines == [f"metroshare: {bad}:3: switches.s2.dpid: "
                         "duplicate dpid 1 (also used by switch 's1')"]


def test_missing_topology_file_exits_2(tmp_path):
    result = run("controller", "--topology", str(tmp_path / "none.yaml"), "--db", "x")
    assert result.returncode == 2 and "none.yaml: cannot read file" in result.stderr


@pytest.mark.parametrize("args", [
    [],
    ["controller"],
    ["controller", "--topology", "t.yaml", "--db", "d", "--ofp-port", "70000"],
    ["mininet", "--topology", "t.yaml", "--controller", "nohost"],
    ["fly"],
])
def test_bad_arguments_exit_2(args):
    assert run(*args).returncode == 2


def test_tls_options_go_together(metro_yaml, tmp_path):
    result = run("controller", "--topology", str(metro_yaml), "--db", str(tmp_path / "db"),
                 "--tls-cert", str(metro_yaml))
    assert result.returncode == 2 and "--tls-cert and --tls-key go together" in result.stderr


def controller_args(metro_yaml, db, *more: str) -> list[str]:
    return ["controller", "--topology", str(metro_yaml), "--db", str(db), *more]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.net"])
def test_plain_http_off_loopback_needs_insecure_http(metro_yaml, tmp_path, host):
    result = run(*controller_args(metro_yaml, tmp_path / "db", "--api-host", host))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--insecure-http" in lines[0] and host in lines[0]
    assert not (tmp_path / "db").exists()  # refused before anything was created


def test_loopback_hosts_and_insecure_http_pass_the_check():
    from metroshare.settings import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.net"))
    args = parser().parse_args(["controller", "--topology", "t", "--db", "d",
                                "--api-host", "0.0.0.0", "--insecure-http"])
    assert args.insecure_http and args.api_rate == 1000 and args.api_burst == 1000


@pytest.mark.parametrize("value", ["-1", "fast", "nan"])
def test_a_bad_api_rate_exits_2(metro_yaml, tmp_path, value):
    assert run(*controller_args(metro_yaml, tmp_path / "db", "--api-rate", value)).returncode == 2


def test_database_connections_per_process_default_to_the_stores() -> None:
    from controller.store import DB_CONNECTIONS, MIN_CONNECTIONS

    given = parser().parse_args(["controller", "--topology", "t", "--db", "d"])
    assert given.db_connections == DB_CONNECTIONS
    assert parser().parse_args(["controller", "--topology", "t", "--db", "d", "--db-connections",
                                str(MIN_CONNECTIONS)]).db_connections == MIN_CONNECTIONS


@pytest.mark.parametrize("value", ["1", "0", "1001", "many"])
def test_bad_database_connections_exit_2_naming_the_option(metro_yaml, tmp_path, value):
    done = run(*controller_args(metro_yaml, tmp_path / "db", "--db-connections", value))
    assert done.returncode == 2
    assert f"--db-connections: connections per process must be 2..1000, got {value}" in done.stderr


@pytest.mark.parametrize("which", ["db", "token"])
def test_a_linked_database_or_token_file_is_refused(metro_yaml, tmp_path, which):
    db = tmp_path / "metro.db"
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = db if which == "db" else admin_token_path(str(db))
    link.symlink_to(target)
    result = run(*controller_args(metro_yaml, db))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"metroshare: {link}: is a symbolic link; refusing to follow it"]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
@pytest.mark.parametrize("which", ["db", "token"])
def test_another_users_database_or_token_file_is_refused(metro_yaml, tmp_path, which):
    db = tmp_path / "metro.db"
    path = db if which == "db" else admin_token_path(str(db))
    path.write_text("")
    os.chown(path, 65534, 65534)
    result = run(*controller_args(metro_yaml, db))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"metroshare: {path}: owned by uid 65534, not by this user (uid 0); refusing to use it"]


def test_database_and_token_files_are_created_0600(tmp_path, monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    db = tmp_path / "metro.db"
    secure_local_files(str(db))
    token = resolve_admin_token(str(db))
    assert resolve_admin_token(str(db)) == token
    for path in (db, admin_token_path(str(db))):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    os.chmod(db, 0o644)  # loosened by hand: tightened again at the next start
    secure_local_files(str(db))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


@pytest.mark.parametrize("given", [["--ofp-tls-cert"], ["--ofp-tls-cert", "--ofp-tls-key"],
                                   ["--ofp-ca-cert"]])
def test_openflow_tls_options_go_together(metro_yaml, tmp_path, given):
    files = [arg for option in given for arg in (option, str(metro_yaml))]
    result = run("controller", "--topology", str(metro_yaml), "--db", str(tmp_path / "db"),
                 *files)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "metroshare: --ofp-tls-cert, --ofp-tls-key and --ofp-ca-cert go together"]


def test_a_missing_openflow_tls_file_exits_2(metro_yaml, tmp_path):
    missing = tmp_path / "ca.pem"
    result = run("controller", "--topology", str(metro_yaml), "--db", str(tmp_path / "db"),
                 "--ofp-tls-cert", str(metro_yaml), "--ofp-tls-key", str(metro_yaml),
                 "--ofp-ca-cert", str(missing))
    assert result.returncode == 2 and f"{missing}: no such file" in result.stderr


@pytest.mark.parametrize("args", [
    ["--controller", "ssl:127.0.0.1:6653"],
    ["--controller", "127.0.0.1:6653", "--switch-cert", "F", "--switch-key", "F",
     "--ca-cert", "F"],
    ["--controller", "ssl:127.0.0.1:6653", "--switch-cert", "F"],
])
def test_mininet_tls_needs_an_ssl_target_and_all_three_files(metro_yaml, args):
    args = [str(metro_yaml) if a == "F" else a for a in args]
    result = run("mininet", "--topology", str(metro_yaml), *args)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_openflow_listens_on_loopback_unless_told():
    args = parser().parse_args(["controller", "--topology", "t", "--db", "d"])
    assert args.ofp_host == "127.0.0.1" and args.ofp_tls_cert is None
    args = parser().parse_args(["mininet", "--topology", "t", "--controller", "ssl:10.0.0.9:6653"])
    assert args.controller == [("ssl", "10.0.0.9", 6653)]
    args = parser().parse_args(["mininet", "--topology", "t", "--controller", "127.0.0.1:6653",
                                "--controller", "127.0.0.1:6654"])
    assert args.controller == [("tcp", "127.0.0.1", 6653), ("tcp", "127.0.0.1", 6654)]


def test_a_second_controller_on_one_sqlite_database_exits_1(metro_yaml, tmp_path, capsys):
    from metroshare.launcher import run_controller
    from metroshare.settings import Settings

    db = str(tmp_path / "m.db")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from metroshare.settings import "
         "lock_sqlite_database; lock_sqlite_database(sys.argv[1]); print('held', flush=True); "
         "time.sleep(60)", db], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert stat.S_IMODE(os.stat(f"{db}.lock").st_mode) == 0o600
        assert run_controller(Settings(topology_path=metro_yaml, db=db, ofp_port=0)) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another controller" in err[0]
        assert "postgresql://" in err[0]
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the killed holder's lock: a restart takes it.
    os.close(lock_sqlite_database(db))


def test_the_sqlite_lock_is_exclusive_per_open_file(tmp_path):
    db = str(tmp_path / "m.db")
    fd = lock_sqlite_database(db)
    try:
        with pytest.raises(DatabaseInUseError):
            lock_sqlite_database(db)
    finally:
        os.close(fd)
    os.close(lock_sqlite_database(db))


def test_controllers_on_one_postgresql_database_share_its_admin_token(pg_url, monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    first = resolve_admin_token(pg_url)
    assert len(first) >= 32
    assert resolve_admin_token(pg_url) == first
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "from-env")
    assert resolve_admin_token(pg_url) == "from-env"
    secure_local_files(pg_url)  # a URL is no file: nothing to check, nothing created
    assert not os.path.exists(f"{pg_url}.admin-token")
