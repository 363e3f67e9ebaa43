"""The `metroshare` command line (CONTRACT §1).

Exit codes: 0 clean stop, 2 bad arguments or bad topology file, 1 anything else.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import socket
import sys
from pathlib import Path

from topology import Topology, TopologyError, load_topology

PACKAGED_TOPOLOGY = Path(__file__).resolve().parent.parent / "mininet_scenarios" / "metro.yaml"


def load_or_exit(path: Path) -> Topology:
    try:
        return load_topology(path)
    except TopologyError as err:
        print(f"metroshare: {err}", file=sys.stderr)
        raise SystemExit(2) from err


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1..65535, got {value}")
    return port


def _workers(value: str) -> int:
    count = int(value)
    if not 0 <= count <= 16:
        raise argparse.ArgumentTypeError(f"API workers must be 0..16, got {value}")
    return count


DB_CONNECTIONS, MIN_CONNECTIONS = 30, 2  # controller.store's (not imported here: slow)


def _connections(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not MIN_CONNECTIONS <= count <= 1000:
        raise argparse.ArgumentTypeError(
            f"connections per process must be {MIN_CONNECTIONS}..1000, got {value}")
    return count


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1e9:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return rate


def _instance(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}", value):
        raise argparse.ArgumentTypeError(
            f"an instance name is 1-128 letters, digits, '_', '.', ':' or '-', got {value!r}")
    return value


def _retry_base(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.01 <= seconds <= 60:
        raise argparse.ArgumentTypeError(f"expected seconds from 0.01 to 60, got {value}")
    return seconds


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, _port(port)


def _controller_target(value: str) -> tuple[str, str, int]:
    """`[tcp:|ssl:]HOST:PORT` as (protocol, host, port)."""
    protocol, sep, rest = value.partition(":")
    if sep and protocol in ("tcp", "ssl"):
        return (protocol, *_host_port(rest))
    return ("tcp", *_host_port(value))


def _tls_files(option_names: str, files: list[Path | None]) -> tuple[Path, ...] | None:
    """The files of options that go together; exits 2 (one line) when only some
    are given or one is missing."""
    if all(f is None for f in files):
        return None
    if any(f is None for f in files):
        print(f"metroshare: {option_names} go together", file=sys.stderr)
        raise SystemExit(2)
    for f in files:
        if not f.is_file():
            print(f"metroshare: {f}: no such file", file=sys.stderr)
            raise SystemExit(2)
    return tuple(files)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metroshare", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("controller", help="run the Ryu controller, REST API and web UI")
    c.add_argument("--topology", type=Path, required=True, help="topology YAML file")
    c.add_argument("--db", required=True, help="SQLite database file (or SQLAlchemy URL)")
    c.add_argument("--ofp-port", type=_port, default=6653, help="OpenFlow listen port")
    c.add_argument("--ofp-host", default="127.0.0.1",
                   help="OpenFlow listen address (give the management address for real switches)")
    c.add_argument("--ofp-tls-cert", type=Path,
                   help="OpenFlow over TLS only: the controller's certificate")
    c.add_argument("--ofp-tls-key", type=Path, help="private key of --ofp-tls-cert")
    c.add_argument("--ofp-ca-cert", type=Path,
                   help="CA that must have signed every switch's certificate")
    c.add_argument("--api-host", default="127.0.0.1", help="REST API / web UI address")
    c.add_argument("--api-port", type=_port, default=8080, help="REST API / web UI port")
    c.add_argument("--tls-cert", type=Path, help="serve the API over HTTPS with this certificate")
    c.add_argument("--tls-key", type=Path, help="private key of --tls-cert")
    c.add_argument("--api-workers", type=_workers, default=2,
                   help="processes that answer API reads beside the controller (0-16; "
                        "0: the controller answers everything itself)")
    c.add_argument("--db-connections", type=_connections, default=DB_CONNECTIONS, metavar="N",
                   help="on PostgreSQL: the most connections each process of this instance "
                        "(the controller, each API worker, the webhook delivery process) opens "
                        f"for its work, a third of them for reads (default {DB_CONNECTIONS}; "
                        "the controller holds two more); ignored on SQLite")
    c.add_argument("--api-rate", type=_rate, default=1000.0,
                   help="API requests per second per token, over the whole controller "
                        "(0: no limit); more gets 429 rate_limited")
    c.add_argument("--api-burst", type=_rate, default=1000.0,
                   help="requests a token may send at once above --api-rate")
    c.add_argument("--insecure-http", action="store_true",
                   help="allow plain HTTP on a non-loopback --api-host")
    c.add_argument("--instance", type=_instance,
                   help="this controller's name among several on one PostgreSQL database "
                        "(default: HOSTNAME:API-PORT)")
    c.add_argument("--webhook-retry-base", type=_retry_base, default=1.0, metavar="SECONDS",
                   help="wait before a failed webhook delivery's first retry (0.01-60); the "
                        "waits double up to 300 times this, and a delivery is given up after "
                        "3600 times this (default 1: retried for an hour)")

    m = sub.add_parser("mininet", help="run the topology in Mininet")
    m.add_argument("--topology", type=Path, required=True, help="topology YAML file")
    m.add_argument("--controller", type=_controller_target, action="append",
                   help="controller address HOST:PORT, or ssl:HOST:PORT for OpenFlow over TLS "
                        "(default 127.0.0.1:6653); more than once: every switch connects to "
                        "each (several controllers on one database)")
    m.add_argument("--switch-cert", type=Path, help="with ssl: the switches' certificate")
    m.add_argument("--switch-key", type=Path, help="private key of --switch-cert")
    m.add_argument("--ca-cert", type=Path, help="CA that signed the controller's certificate")
    m.add_argument("--no-cli", action="store_true", help="no Mininet CLI: wait until SIGTERM")

    d = sub.add_parser("demo", help="OVS, controller, the metro tree and sample parties")
    d.add_argument("--topology", type=Path, default=PACKAGED_TOPOLOGY, help=argparse.SUPPRESS)
    d.add_argument("--ofp-port", type=_port, default=6653, help="OpenFlow listen port")
    d.add_argument("--api-port", type=_port, default=8080, help="web UI port")
    d.add_argument("--tls-openflow", action="store_true",
                   help="OpenFlow over TLS with a demo CA and certificates for every switch")
    d.add_argument("--no-cli", action="store_true", help="no Mininet CLI: wait until SIGTERM")
    return p


def _controller(args: argparse.Namespace) -> int:
    from metroshare.launcher import run_controller
    from metroshare.settings import Settings, UnsafeFileError, is_loopback, secure_local_files

    load_or_exit(args.topology)
    if (args.tls_cert is None) != (args.tls_key is None):
        print("metroshare: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    for f in (args.tls_cert, args.tls_key):
        if f is not None and not f.is_file():
            print(f"metroshare: {f}: no such file", file=sys.stderr)
            return 2
    ofp_tls = _tls_files("--ofp-tls-cert, --ofp-tls-key and --ofp-ca-cert",
                         [args.ofp_tls_cert, args.ofp_tls_key, args.ofp_ca_cert])
    if args.tls_cert is None and not args.insecure_http and not is_loopback(args.api_host):
        print(f"metroshare: --api-host {args.api_host} is not loopback: give --tls-cert and "
              "--tls-key, or --insecure-http to send tokens in clear", file=sys.stderr)
        return 2
    if args.api_rate and args.api_burst < 1:
        print("metroshare: --api-burst must be at least 1", file=sys.stderr)
        return 2
    try:
        secure_local_files(args.db)
    except UnsafeFileError as err:
        print(f"metroshare: {err}", file=sys.stderr)
        return 2
    settings = Settings(topology_path=args.topology, db=args.db, ofp_port=args.ofp_port,
                        ofp_host=args.ofp_host, ofp_tls=ofp_tls,
                        api_host=args.api_host, api_port=args.api_port,
                        tls_cert=args.tls_cert, tls_key=args.tls_key,
                        api_workers=args.api_workers, api_rate=args.api_rate,
                        db_connections=args.db_connections,
                        api_burst=args.api_burst, insecure_http=args.insecure_http,
                        instance=args.instance or f"{socket.gethostname()}:{args.api_port}",
                        webhook_retry_base=args.webhook_retry_base)
    return run_controller(settings)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    received = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: received.append(s))
    while not received:
        signal.pause()


def _mininet(args: argparse.Namespace) -> int:
    topology = load_or_exit(args.topology)
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    from mininet_scenarios.network import MetroNetwork, SwitchTLS

    targets = args.controller or [("tcp", "127.0.0.1", 6653)]
    protocols = {protocol for protocol, _, _ in targets}
    tls = _tls_files("--switch-cert, --switch-key and --ca-cert",
                     [args.switch_cert, args.switch_key, args.ca_cert])
    if len(protocols) > 1:
        print("metroshare: the --controller targets are all tcp or all ssl:", file=sys.stderr)
        return 2
    if (protocols == {"ssl"}) != (tls is not None):
        print("metroshare: an ssl: --controller needs --switch-cert, --switch-key and --ca-cert,"
              " and they need an ssl: --controller", file=sys.stderr)
        return 2
    setLogLevel("info")
    with MetroNetwork(topology, [(host, port) for _, host, port in targets],
                      tls=tls and SwitchTLS(*tls)) as net:
        if args.no_cli:
            print("metroshare: Mininet network running; send SIGTERM to stop", flush=True)
            wait_for_signal()
        else:
            CLI(net)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "controller":
        return _controller(args)  # Ryu sets up logging itself
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.command == "mininet":
        return _mininet(args)
    from metroshare.demo import run_demo

    return run_demo(args.topology, args.ofp_port, args.api_port, args.no_cli, args.tls_openflow)


if __name__ == "__main__":
    sys.exit(main())
