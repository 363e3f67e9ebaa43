"""The pure parts of webhook delivery: the signature a receiver checks, the
retry schedule and the option that scales it (issue 10 §3)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from controller.delivery import RETRY_CAP, RETRY_FOR, retry_delay, sign
from metroshare.cli import parser


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":1,"action":"party_created"}'
    expected = hmac.new(b"0123456789abcdef", body, hashlib.sha256).hexdigest()
    assert sign("0123456789abcdef", body) == f"sha256={expected}"
    assert sign("0123456789abcdef", body + b" ") != sign("0123456789abcdef", body)
    assert sign("another secret!!", body) != sign("0123456789abcdef", body)


def _schedule(base: float) -> list[float]:
    """Every wait until the delivery is given up."""
    waits, attempts = [], 1
    while (wait := retry_delay(attempts, base)) is not None:
        waits.append(wait)
        attempts += 1
    return waits


def test_retries_double_up_to_a_cap_for_at_least_an_hour_then_stop() -> None:
    waits = _schedule(1.0)
    assert waits[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert max(waits) == RETRY_CAP == 300
    assert sum(waits) >= RETRY_FOR == 3600         # the last attempt an hour after the first
    assert sum(waits[:-1]) < 3600                  # and not a wait longer than needed
    assert len(waits) == 20                        # 21 attempts in all


def test_the_whole_schedule_scales_with_the_base() -> None:
    assert _schedule(0.01) == [w * 0.01 for w in _schedule(1.0)]


def test_the_retry_base_option_is_bounded() -> None:
    args = parser().parse_args(["controller", "--topology", "t.yaml", "--db", "x.db",
                                "--webhook-retry-base", "0.05"])
    assert args.webhook_retry_base == 0.05
    assert parser().parse_args(["controller", "--topology", "t.yaml", "--db", "x.db"]
                               ).webhook_retry_base == 1.0
    for bad in ("0", "-1", "61", "soon"):
        with pytest.raises(SystemExit) as info:
            parser().parse_args(["controller", "--topology", "t.yaml", "--db", "x.db",
                                 "--webhook-retry-base", bad])
        assert info.value.code == 2
