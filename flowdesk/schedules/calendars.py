"""Exchange trading calendars from ``exchange_calendars``: which local dates are sessions.

No holiday is written by hand here: the sessions, weekends and holidays are the
library's. A calendar is built once per process and name, covering about 20 years back
(the library's default) to ``HORIZON`` ahead, so previews and the missed-run policy can
look two years forward.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from functools import cache, lru_cache
from typing import Any

import exchange_calendars as xcals  # type: ignore[import-untyped]
import pandas as pd

from flowdesk.errors import InvalidRequest

# exchange_calendars builds sessions about 1 year ahead by default; flowdesk searches
# up to 2 years (730 days) ahead, plus a margin for a process that runs for weeks.
HORIZON = timedelta(days=800)

COMMON_CALENDARS = (
    "XNYS (New York)",
    "XNAS (Nasdaq)",
    "XLON (London)",
    "XETR (Xetra)",
    "XTKS (Tokyo)",
    "XHKG (Hong Kong)",
    "XASX (Sydney)",
    "XTSE (Toronto)",
)


def validate_calendar(name: str) -> str:
    """The exchange_calendars name for `name` (case-insensitive), loadable 2 years ahead."""
    canonical = _names().get(name.strip().upper())
    if canonical is None:
        raise InvalidRequest(
            f"unknown market calendar {name!r}: use an exchange_calendars name such as "
            + ", ".join(COMMON_CALENDARS),
            field="calendar",
        )
    _load(canonical)
    return canonical


def is_trading_day(calendar: str, day: date) -> bool:
    """Whether `day` is a trading session of `calendar`."""
    return bool(_calendar_covering(calendar, day).is_session(pd.Timestamp(day)))


def next_trading_day(calendar: str, day: date) -> date | None:
    """The first session after `day`, or None past the last day the calendar knows."""
    sessions = _calendar_covering(calendar, day).sessions
    index = int(sessions.searchsorted(pd.Timestamp(day), side="right"))
    if index >= len(sessions):
        return None
    found: date = sessions[index].date()
    return found


def last_known_day(calendar: str) -> date:
    """The last session the loaded calendar knows (about `HORIZON` after it was loaded)."""
    last: date = _load(validate_calendar(calendar)).last_session.date()
    return last


def closure_reason(calendar: str, day: date) -> str:
    """Why `day` is not a session, e.g. ``XNYS is closed on 2026-11-26 (...: holiday)``."""
    name = validate_calendar(calendar)
    cal = _calendar_covering(name, day)
    if cal.is_session(pd.Timestamp(day)):
        raise ValueError(f"{name} trades on {day.isoformat()}: it is a session")
    # The weekmask ("1111100" for Mon-Fri) is the calendar's own definition of a weekend:
    # some exchanges trade Sunday to Thursday.
    kind = "weekend" if cal.weekmask[day.weekday()] == "0" else "holiday"
    return f"{name} is closed on {day.isoformat()} (not a trading session: {kind})"


def _calendar_covering(calendar: str, day: date) -> Any:
    cal = _load(validate_calendar(calendar))
    first: date = cal.first_session.date()
    last: date = cal.last_session.date()
    if not first <= day <= last:
        raise InvalidRequest(
            f"{calendar} sessions are known from {first.isoformat()} to {last.isoformat()}; "
            f"{day.isoformat()} is outside them",
            field="calendar",
        )
    return cal


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    names: list[str] = xcals.get_calendar_names(include_aliases=True)
    return {name.upper(): name for name in names}


# Building a calendar takes 0.09-0.27 s here (XLON 0.09 s, XNYS 0.14 s idle and 0.25 s
# with a benchmark running; XKRX 1.8 s for its lunar holidays), so each is built once
# per process. The cache keeps every calendar a process asked for: there are about 100.
@cache
def _load(name: str) -> Any:
    end = pd.Timestamp(date.today() + HORIZON)
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13.2 reads Series.values, deprecated in pandas 3.1: the
            # warning is the library's, once per calendar, and says nothing about ours.
            warnings.filterwarnings("ignore", "Series.values returning", DeprecationWarning)
            return xcals.get_calendar(name, end=end)
    except ValueError as exc:
        # e.g. "The XSHG holidays are only recorded to the year 2026" (4.13.2); XTAE's
        # special-close list fails to build at all in that release.
        reason = str(exc).splitlines()[0][:160]
        raise InvalidRequest(
            f"market calendar {name!r} cannot be used: exchange_calendars cannot build it "
            f"through {end.date().isoformat()} ({reason})",
            field="calendar",
        ) from exc
