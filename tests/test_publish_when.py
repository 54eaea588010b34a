"""The site's timestamps (build._Context.when, formatted once per local minute or day) read as strftime does, in
zones with daylight saving, half-hour shifts and odd offsets, around their changes."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from chendian.site.build import _Context

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
         "America/St_Johns", "Pacific/Chatham")
FORMATS = ("%Y-%m-%d %H:%M", "%m-%d %H:%M", "%Y-%m-%d", "%H:%M:%S")


def _transitions(tz: ZoneInfo, year: int) -> list[int]:
    """UTC instants (to the minute) where the zone's offset changes in `year`."""
    start = int(datetime(year, 1, 1, tzinfo=timezone.utc).timestamp())
    out, last = [], None
    for t in range(start, start + 366 * 86400, 1800):
        off = datetime.fromtimestamp(t, tz).utcoffset()
        if last is not None and off != last:
            lo, hi = t - 1800, t
            while hi - lo > 60:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, tz).utcoffset() == last:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
        last = off
    return out


def test_when_reads_as_strftime_around_every_offset_change():
    rng = random.Random(7)
    for name in ZONES:
        tz = ZoneInfo(name)
        ctx = _Context(ws=None, rc=None, privacy=None, md=None, tz=tz)
        moments = [rng.randrange(0, 2_000_000_000) for _ in range(2000)]
        changes = _transitions(tz, 2024)
        if name not in ("Asia/Shanghai", "Asia/Kathmandu"):  # fixed offsets, one of them +05:45
            assert changes, name  # the zones chosen do change their offset
        for t in changes:
            moments += [t + d for d in range(-3700, 3700, 37)]
        for ts in moments * 2:  # the second time from what was kept
            for fmt in FORMATS:
                assert ctx.when(ts, fmt) == datetime.fromtimestamp(ts, tz).strftime(fmt), (name, ts, fmt)
    assert ctx.when(None) == ""
