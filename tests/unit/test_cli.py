"""The command line's contract: exit 2 and one line naming the culprit."""

from __future__ import annotations

import subprocess
import sys

import pytest


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
