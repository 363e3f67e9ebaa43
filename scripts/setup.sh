#!/usr/bin/env bash
# Brings a machine (Debian 12, Python 3.11, root) to what metroshare needs:
# Debian packages, the .venv with the project installed editable, and a
# running Open vSwitch and PostgreSQL (with a superuser role `root`).
# Idempotent; quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="openvswitch-switch mininet iputils-ping iperf3 tcpdump ethtool chromium openssl postgresql"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

die() { echo "setup: $*" >&2; exit 1; }

missing=""
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "need root to install Debian packages:$missing"
    echo "setup: installing Debian packages:$missing"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null \
        || die "apt-get install failed for:$missing"
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PYTHON is not Python 3.11 (Ryu 4.34 is verified only there); set PYTHON=..."

stamp=.venv/.setup-stamp
want=$(cat setup.cfg scripts/constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv 2>/dev/null || {
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$PYTHON" -m venv .venv
        } || die "cannot create .venv with $PYTHON"
    fi
    echo "setup: installing metroshare and its tools into .venv"
    export PIP_CONSTRAINT="$PWD/scripts/constraints.txt"
    .venv/bin/pip install -q --upgrade pip 'setuptools<68' wheel pbr >/dev/null \
        || die "pip could not upgrade pip/setuptools in .venv"
    # Ryu's setup.py needs setuptools<68 at build time; newer pips no longer
    # pass PIP_CONSTRAINT into isolated builds, so build it without isolation.
    .venv/bin/pip install -q --no-build-isolation ryu==4.34 \
        || die "pip could not build ryu 4.34 (see above)"
    .venv/bin/pip install -q --no-build-isolation -e '.[dev]' \
        || die "pip install -e .[dev] failed (see above)"
    echo "$want" > "$stamp"
fi

if ! ovs-vsctl --timeout=2 show >/dev/null 2>&1; then
    echo "setup: starting Open vSwitch"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random --no-monitor >/dev/null 2>&1 \
        || die "could not start Open vSwitch (ovs-ctl start)"
fi

# PostgreSQL: the first cluster Debian created (its version directory, not a
# hard-coded 15), started if down, and a superuser role for root.
pg_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_version" ] || die "no PostgreSQL cluster under /etc/postgresql"
if ! pg_isready -q -h /var/run/postgresql; then
    echo "setup: starting PostgreSQL $pg_version"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start \
        || die "could not start PostgreSQL (pg_ctlcluster $pg_version main start)"
fi
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'root'\"" | grep -q 1; then
    su postgres -c "createuser -s root" || die "could not create the PostgreSQL role root"
fi
