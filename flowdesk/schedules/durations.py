"""Durations as users write them: 90, "90s", "30m", "1h30m", "2d" or ISO 8601 "PT1H"."""

from __future__ import annotations

import math
import re
from datetime import timedelta

from flowdesk.errors import InvalidRequest

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=7)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_COMPACT = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.IGNORECASE)
_ISO = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE
)


def parse_duration(value: str | int | float, *, field: str = "stale_after") -> timedelta:
    """Seconds (90), "90s", "30m", "1h30m", "2d" or ISO 8601 "PT1H", from 1 minute to 7 days."""
    duration = _parse_duration(value)
    if duration is None:
        raise InvalidRequest(
            f"{field} {value!r} is not a duration: use seconds (90), '30m', '1h30m', '2d' "
            "or ISO 8601 'PT1H'",
            field=field,
        )
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise InvalidRequest(
            f"{field} must be between {format_duration(MIN_DURATION)} and "
            f"{format_duration(MAX_DURATION)}, got {format_duration(duration)}",
            field=field,
        )
    return duration


def format_duration(duration: timedelta) -> str:
    """Whole seconds as "1h", "1h30m", "2h05m", "1h00m01s" (what parse_duration reads)."""
    seconds = int(duration.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    counts: list[tuple[int, str]] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        counts.append((count, unit))
    used = [index for index, (count, _) in enumerate(counts) if count]
    if not used:
        return "0s"
    first, last = used[0], used[-1]
    head = f"{counts[first][0]}{counts[first][1]}"
    return (
        sign + head + "".join(f"{count:02d}{unit}" for count, unit in counts[first + 1 : last + 1])
    )


def _parse_duration(value: str | int | float) -> timedelta | None:
    try:
        return _read_duration(value)
    except OverflowError:  # more than about 2.7 million years of seconds
        return None


def _read_duration(value: str | int | float) -> timedelta | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return timedelta(seconds=value) if math.isfinite(value) else None
    text = value.strip().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return timedelta(seconds=float(text))
    compact = _COMPACT.fullmatch(text)
    if text and compact:
        days, hours, minutes, seconds = (int(group or 0) for group in compact.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    iso = _ISO.fullmatch(text)
    if iso and any(iso.groups()):
        weeks, days, hours, minutes = (int(group or 0) for group in iso.groups()[:4])
        return timedelta(
            weeks=weeks,
            days=days,
            hours=hours,
            minutes=minutes,
            seconds=float(iso.group(5) or 0),
        )
    return None
