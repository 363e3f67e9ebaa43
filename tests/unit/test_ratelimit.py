"""The request rate per token (CONTRACT §3: 429 `rate_limited` with Retry-After),
on a fake clock: the bucket, the table of buckets, and the WSGI layer in front
of the real northbound app."""

from __future__ import annotations

from pathlib import Path

import pytest
from webob import Request

from controller.core import ServiceCore
from controller.store import open_store
from northbound import ratelimit
from northbound.app import NorthboundApp
from northbound.ratelimit import RateLimited, RateLimiter, TokenBucket
from topology import load_topology

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin-secret-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_passes_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.take(0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0) == pytest.approx(0.5)   # one more in half a second
    assert bucket.take(0.5) == 0
    assert bucket.take(0.5) == pytest.approx(0.5)
    assert bucket.take(100) == 0                  # refilled, but never above the burst
    assert [bucket.take(100) for _ in range(3)] == [0, 0, pytest.approx(0.5)]


def test_each_token_has_its_own_bucket_and_retry_after_is_whole_seconds() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=0.25, burst=2, clock=clock)
    assert [limiter.retry_after("a") for _ in range(2)] == [0, 0]
    assert limiter.retry_after("a") == 4          # 1 / 0.25 s
    assert limiter.retry_after("b") == 0          # another party is not slowed by a
    assert limiter.retry_after(None) == 0         # nor are requests without a token
    clock.now += 3.5
    assert limiter.retry_after("a") == 1          # 0.5 s left, rounded up
    clock.now += 0.5
    assert limiter.retry_after("a") == 0


def test_the_table_of_buckets_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "MAX_BUCKETS", 3)
    limiter = RateLimiter(rate=1, burst=1, clock=FakeClock())
    for token in "abcd":
        limiter.retry_after(token)
    assert len(limiter.buckets) == 3


@pytest.mark.parametrize("rate, burst", [(0, 1), (1, 0.5)])
def test_a_limiter_needs_a_rate_and_a_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


@pytest.fixture
def site(tmp_path: Path) -> NorthboundApp:
    core = ServiceCore(load_topology(ROOT / "mininet_scenarios" / "metro.yaml"),
                       open_store(tmp_path / "db"), admin_token=ADMIN)
    return NorthboundApp(core)


def get(app: RateLimited, path: str, token: str | None = None, xml: bool = False):
    req = Request.blank(path)
    if token:
        req.headers["Authorization"] = f"Bearer {token}"
    if xml:
        req.headers["Accept"] = "application/xml"
    return req.get_response(app)


def test_over_the_rate_is_429_rate_limited_with_retry_after(site: NorthboundApp) -> None:
    clock = FakeClock()
    app = RateLimited(site, RateLimiter(rate=0.5, burst=2, clock=clock), site)
    assert [get(app, "/api/v1/parties", ADMIN).status_code for _ in range(2)] == [200, 200]
    refused = get(app, "/api/v1/parties", ADMIN)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "2"
    assert refused.json["error"]["code"] == "rate_limited"
    assert b"<code>rate_limited</code>" in get(app, "/api/v1/parties", ADMIN, xml=True).body
    clock.now += 2
    assert get(app, "/api/v1/parties", ADMIN).status_code == 200


def test_healthz_and_the_ui_are_never_limited(site: NorthboundApp) -> None:
    app = RateLimited(site, RateLimiter(rate=0.001, burst=1, clock=FakeClock()), site)
    for path in ("/healthz", "/", "/ui/app.js", "/healthz"):
        for _ in range(5):
            assert get(app, path).status_code == 200, path
    assert get(app, "/api/v1/parties", ADMIN).status_code == 200
    assert get(app, "/api/v1/parties", ADMIN).status_code == 429
