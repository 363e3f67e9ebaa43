"""Request rate per token: a token bucket each, refused with 429 `rate_limited`.

Each process that accepts API connections holds its own buckets and enforces
its share of the configured rate: with N API workers only the workers
accept, the kernel spreads connections over them, and each enforces rate/N
with burst/N (`apps/rest.py`), so the whole stays within the rate.
`/healthz` and the UI's files are free. Time is passed in (`clock`), so tests run on a fake one.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from webob import Request

from northbound import render
from northbound.envelope import bearer_token

MAX_BUCKETS = 10_000  # tokens tracked at once; a flood of made-up tokens evicts the oldest


class TokenBucket:
    """`burst` requests at once, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def take(self, now: float) -> float:
        """0 if a request may pass now (and count it), else the seconds until one may."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per bearer token (party, admin, or a wrong one; none is one more)."""

    def __init__(self, rate: float, burst: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self.buckets: OrderedDict[bytes, TokenBucket] = OrderedDict()

    def retry_after(self, token: str | None) -> int:
        """0 if the request may pass, else whole seconds to wait (at least 1)."""
        key = hashlib.blake2b((token or "").encode(), digest_size=16).digest()
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self.buckets.popitem(last=False)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        else:
            self.buckets.move_to_end(key)
        wait = bucket.take(now)
        return max(1, math.ceil(wait)) if wait else 0


def exempt(path: str) -> bool:
    """`/healthz` and the web UI's own files are never limited."""
    return path in ("/healthz", "/") or path.startswith("/ui/")


class RateLimited:
    """WSGI in front of what a process serves: 429 before the app sees a request
    over its token's rate; `site` renders the error as every other."""

    def __init__(self, app: Callable, limiter: RateLimiter, site: object) -> None:
        self.app, self.limiter, self.site = app, limiter, site

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not exempt(environ.get("PATH_INFO", "")):
            req = Request(environ)
            wait = self.limiter.retry_after(bearer_token(req))
            if wait:
                response = self.site.error(
                    429, "rate_limited", f"too many requests with this token; retry in "
                    f"{wait} s", render.negotiate(req.accept), {"Retry-After": str(wait)})
                return response(environ, start_response)
        return self.app(environ, start_response)
