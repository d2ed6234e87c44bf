"""The send rate shared by every worker: a token bucket (requests/s) plus an optional hourly email cap.

With Redis (production) the bucket lives in Redis and one Lua script reserves a slot atomically, so any number of
worker processes together stay under `RESEND_RATE_LIMIT`. The script reserves instead of refusing: it returns how
long the caller must wait for its slot, so callers are served in arrival order without polling. Without Redis
(embedded mode, one worker) a per-process bucket does the same.
"""

from __future__ import annotations

import threading
import time
from functools import lru_cache
from typing import Protocol

from django.conf import settings

# KEYS: bucket, hourly window hash, blocked-until. ARGV: rate, burst, emails, hourly cap.
# Returns the wait in microseconds before the caller may send (0 = now).
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local emails = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local wait = 0
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then wait = blocked - now end
if cap > 0 then
  local minute = math.floor(now / 60000000)
  local total = 0
  local oldest = nil
  local fields = redis.call('HGETALL', KEYS[2])
  for i = 1, #fields, 2 do
    local m = tonumber(fields[i])
    if m <= minute - 60 then
      redis.call('HDEL', KEYS[2], fields[i])
    else
      total = total + tonumber(fields[i + 1])
      if oldest == nil or m < oldest then oldest = m end
    end
  end
  if total + emails > cap and oldest ~= nil then
    -- Over the hourly cap: come back when the oldest minute leaves the window (the caller re-asks then).
    return -((oldest + 60) * 60000000 - now)
  end
  redis.call('HINCRBY', KEYS[2], tostring(minute), emails)
  redis.call('EXPIRE', KEYS[2], 3700)
end
if rate <= 0 then return wait end
local interval = 1000000 / rate
local tau = (burst - 1) * interval
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local slot = math.max(now + wait, tat - tau)
local new_tat = math.max(tat, slot) + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return math.floor(slot - now)
"""


# Requests leave this far under the configured rate. The provider counts arrivals, and an arrival can be late
# by the jitter of a loaded worker (encoding, scheduling): with no margin, a late request followed by a punctual
# one puts three requests in a one-second window of a 2 req/s limit, and the 429 that follows costs a whole
# retry-after for every worker. Spacing evenly (no burst) with 3 % slack keeps 97 % of the ceiling.
RATE_MARGIN = 0.97


def effective_rate() -> float:
    rate = float(settings.RESEND_RATE_LIMIT)
    return rate * RATE_MARGIN if rate > 0 else 0.0


class Limiter(Protocol):
    def acquire(self, *, emails: int) -> float: ...

    def block(self, *, seconds: float) -> None: ...


class RedisLimiter:
    """GCRA-style bucket: the key holds the theoretical arrival time of the next free slot."""

    def __init__(self, url: str, *, name: str = "resend") -> None:
        import redis

        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_LUA)
        prefix = f"herald:rate:{name}"
        self._keys = [f"{prefix}:tat", f"{prefix}:hourly", f"{prefix}:blocked"]

    def reserve(self, *, emails: int) -> float:
        """Seconds to wait before sending `emails` in one request; negative means over the hourly cap."""
        rate = effective_rate()
        burst = 1
        micros = int(self._script(keys=self._keys, args=[rate, burst, emails, int(settings.RESEND_HOURLY_CAP or 0)]))
        return micros / 1_000_000

    def acquire(self, *, emails: int) -> float:
        """Block until this request may go out; returns the seconds waited.

        Over the hourly cap it raises at once instead of sleeping: the caller holds a page's row locks, so it
        gives them back and retries the page when the window has room.
        """
        wait = self.reserve(emails=emails)
        if wait < 0:
            raise HourlyCapReached(retry_after=-wait)
        if wait > 0:
            time.sleep(wait)
        return wait

    def block(self, *, seconds: float) -> None:
        """A 429 told one worker to back off: make every worker wait as long."""
        until = int((time.time() + seconds) * 1_000_000)
        self._redis.set(self._keys[2], until, px=max(1, int(seconds * 1000)))


class HourlyCapReached(Exception):
    def __init__(self, *, retry_after: float) -> None:
        super().__init__(f"hourly cap reached, retry in {retry_after:.0f}s")
        self.retry_after = retry_after


class LocalLimiter:
    """One process (embedded mode): the same reservation logic under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._blocked_until = 0.0
        self._window: list[tuple[float, int]] = []

    def acquire(self, *, emails: int) -> float:
        rate = effective_rate()
        cap = int(settings.RESEND_HOURLY_CAP or 0)
        with self._lock:
            now = time.monotonic()
            wait = max(0.0, self._blocked_until - now)
            if cap > 0:
                self._window = [(t, n) for t, n in self._window if t > now - 3600]
                if sum(n for _, n in self._window) + emails > cap and self._window:
                    raise HourlyCapReached(retry_after=self._window[0][0] + 3600 - now)
                self._window.append((now, emails))
            if rate > 0:
                slot = max(self._next_slot, now + wait)
                self._next_slot = slot + 1.0 / rate
                wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return wait

    def block(self, *, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)


@lru_cache(maxsize=1)
def _limiter_for(url: str) -> Limiter:
    return RedisLimiter(url) if url else LocalLimiter()


def get_limiter() -> Limiter:
    return _limiter_for(settings.REDIS_URL or "")
