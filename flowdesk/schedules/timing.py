"""Cron, time zone and duration checks, fire-time previews and the missed-run policy.

Fire times are computed by Prefect's own ``CronSchedule.get_dates`` (the server schema
its scheduler uses), so a preview lists the ticks Prefect will create, DST quirks
included: at 02:30 on a spring-forward day (America/New_York, 2027-03-14) Prefect fires
at 01:30 local (06:30 UTC), before the clock jump, rather than skipping the day; on a
fall-back day a 01:30 tick fires once, at the first 01:30.

Missed-run policy: ``decide`` is asked when the flow run of a scheduled tick starts
(Prefect never skips late runs, issue #19313). The rules, first match wins:

a. a calendar is given and the tick's local date (in the schedule's time zone) is not
   a session of that exchange: skip, with the calendar's closure reason;
b. lateness (now - scheduled_for) is more than ``stale_after``: skip as stale (exactly
   ``stale_after`` late still runs);
c. catchup ``none`` and lateness is more than ``grace``: skip as missed;
d. catchup ``latest`` and the next tick of the cron strictly after this one (on a
   session day when a calendar is given, searched up to 2 years ahead) is already due
   (at or before now): skip as superseded by that tick;
e. catchup ``all``: run (every tick that is not stale);
f. otherwise run.

The caller's defaults are ``DEFAULT_CATCHUP`` (latest) and ``DEFAULT_STALE_AFTER`` (1 h).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from difflib import get_close_matches
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from prefect._vendor.croniter.croniter import CroniterBadDateError, croniter
from prefect.server.schemas.schedules import CronSchedule
from pydantic import ValidationError

from flowdesk.errors import InvalidRequest
from flowdesk.schedules import calendars
from flowdesk.schedules.durations import format_duration

CRON_EXAMPLE = '"0 9 * * 1-5" (09:00 Monday to Friday)'
_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31 or L"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT, 0 and 7 are Sunday"),
)
# The shortcuts Prefect's croniter accepts; "@reboot" it refuses.
_SHORTCUTS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")

# Prefect's get_dates checks at most 1,000 candidates per call.
MAX_FIRE_TIMES = 1000
# A calendar-filtered preview stops looking this far after its start and returns fewer
# times than asked: a cron that only ticks on weekends never meets an XNYS session.
CALENDAR_SEARCH_LIMIT = timedelta(days=730)
# 50 ticks cover at least two days of any cron that fires more than once a day.
_INTERVAL_SAMPLE = 50

DEFAULT_STALE_AFTER = timedelta(hours=1)


class Catchup(StrEnum):
    NONE = "none"
    LATEST = "latest"
    ALL = "all"


DEFAULT_CATCHUP = Catchup.LATEST


@dataclass(frozen=True)
class RunIt:
    pass


@dataclass(frozen=True)
class SkipIt:
    reason: str


def validate_cron(cron: str) -> str:
    """`cron` with its whitespace normalised, if Prefect accepts it as 5-field cron."""
    expr = " ".join(cron.split())
    if not expr:
        raise InvalidRequest(f"cron is empty: use 5 fields, e.g. {CRON_EXAMPLE}", field="cron")
    fields = expr.split(" ")
    if expr.startswith("@"):
        if expr.lower() not in _SHORTCUTS:
            raise InvalidRequest(
                f"cron shortcut {expr!r} is not supported: use one of {', '.join(_SHORTCUTS)} "
                f"or 5 fields, e.g. {CRON_EXAMPLE}",
                field="cron",
            )
    elif len(fields) != 5:
        extra = " (a seconds or year field is not supported)" if len(fields) in (6, 7) else ""
        raise InvalidRequest(
            f"cron {expr!r} has {len(fields)} fields{extra}: use 5 fields, minute hour "
            f"day-of-month month day-of-week, e.g. {CRON_EXAMPLE}",
            field="cron",
        )
    else:
        for value, (name, allowed) in zip(fields, _FIELDS, strict=True):
            probe = " ".join(value if other == name else "*" for other, _ in _FIELDS)
            # Random and hashed fields (R, H) are croniter extensions Prefect refuses.
            if value.casefold() in ("r", "h"):
                allowed = "random R and hashed H are not supported"
            elif _croniter_accepts(probe):
                continue
            raise InvalidRequest(
                f"cron {expr!r}: {name} field {value!r} is not valid ({allowed}); "
                f"e.g. {CRON_EXAMPLE}",
                field="cron",
            )
    try:
        CronSchedule(cron=expr, timezone="UTC")
        _first_tick(expr)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidRequest(f"{message}; e.g. {CRON_EXAMPLE}", field="cron") from exc
    except CroniterBadDateError as exc:
        # e.g. "0 9 31 2 *": every field is valid, but February has no 31st.
        raise InvalidRequest(f"cron {expr!r} never fires", field="cron") from exc
    return expr


def validate_timezone(name: str) -> str:
    """`name` if it is an IANA time zone (the set Prefect's CronSchedule accepts)."""
    if name in _timezones():
        return name
    close = get_close_matches(name, _timezones(), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InvalidRequest(
        f"unknown time zone {name!r}: {hint}use an IANA name such as "
        "'America/New_York', 'Europe/London' or 'UTC'",
        field="timezone",
    )


async def next_fire_times(
    cron: str,
    timezone: str,
    n: int = 5,
    *,
    after: datetime | None = None,
    calendar: str | None = None,
) -> list[datetime]:
    """The next `n` ticks at or after `after` (default now), in UTC, as Prefect creates them.

    With `calendar`, only ticks whose local date is a session count; the search stops
    `CALENDAR_SEARCH_LIMIT` (2 years) after `after`, so fewer than `n` may come back.
    """
    cron, timezone = validate_cron(cron), validate_timezone(timezone)
    if not 1 <= n <= MAX_FIRE_TIMES:
        raise InvalidRequest(f"n must be between 1 and {MAX_FIRE_TIMES}", field="n")
    start = _aware(after or datetime.now(UTC), "after")
    # Built once per call: its validation lists every time zone on disk (17 ms here).
    schedule = CronSchedule(cron=cron, timezone=timezone)
    if calendar is None:
        return await _prefect_ticks(schedule, n, start)
    calendar = calendars.validate_calendar(calendar)
    zone = ZoneInfo(timezone)
    last_day = min(
        start.astimezone(zone).date() + CALENDAR_SEARCH_LIMIT, calendars.last_known_day(calendar)
    )
    found: list[datetime] = []
    while len(found) < n:
        batch = await _prefect_ticks(schedule, n - len(found), start)
        if not batch:
            return found
        for tick in batch:
            day = tick.astimezone(zone).date()
            if day > last_day:
                return found
            if calendars.is_trading_day(calendar, day):
                found.append(tick)
                continue
            # Jump to the next session's local midnight rather than walk every tick of
            # the closed days: a minutely cron has 4,320 ticks over a 3-day weekend.
            session = calendars.next_trading_day(calendar, day)
            if session is None or session > last_day:
                return found
            start = datetime.combine(session, time(), tzinfo=zone)
            break
        else:
            start = batch[-1] + timedelta(seconds=1)
    return found


async def check_min_interval(
    cron: str, timezone: str, min_interval: timedelta, *, after: datetime | None = None
) -> None:
    """Refuse a cron whose closest consecutive ticks are less than `min_interval` apart."""
    validate_timezone(timezone)
    # The gaps are measured on the cron's own pattern, evaluated in UTC: in the
    # schedule's zone, "0 1,3 * * *" fires 1 h apart on 2027-03-14 (America/New_York)
    # and 2 h apart every other day, and a request must not pass or fail by its date.
    ticks = await next_fire_times(cron, "UTC", _INTERVAL_SAMPLE, after=after)
    gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:], strict=False)]
    if gaps and min(gaps) < min_interval:
        raise InvalidRequest(
            f"cron {cron!r} fires every {format_duration(min(gaps))} at its most frequent; "
            f"the minimum interval between runs is {format_duration(min_interval)}",
            field="cron",
        )


async def decide(
    *,
    scheduled_for: datetime,
    now: datetime,
    cron: str,
    timezone: str,
    calendar: str | None,
    catchup: Catchup,
    stale_after: timedelta,
    grace: timedelta = timedelta(seconds=60),
) -> RunIt | SkipIt:
    """Whether the flow run of the tick at `scheduled_for`, starting at `now`, should work."""
    scheduled_for, now = _aware(scheduled_for, "scheduled_for"), _aware(now, "now")
    zone = ZoneInfo(validate_timezone(timezone))
    tick = _tick_label(scheduled_for, zone)
    lateness = now - scheduled_for
    if calendar is not None:
        day = scheduled_for.astimezone(zone).date()
        if not calendars.is_trading_day(calendar, day):
            return SkipIt(calendars.closure_reason(calendar, day))
    if lateness > stale_after:
        return SkipIt(
            f"stale: started {format_duration(lateness)} after its {tick}; "
            f"stale_after is {format_duration(stale_after)}"
        )
    if catchup is Catchup.NONE and lateness > grace:
        return SkipIt(
            f"missed: started {format_duration(lateness)} after its {tick}; "
            f"catchup is none and the grace is {format_duration(grace)}"
        )
    if catchup is Catchup.LATEST:
        # Cron ticks are whole minutes, so one second later excludes this tick.
        later = await next_fire_times(
            cron, timezone, 1, after=scheduled_for + timedelta(seconds=1), calendar=calendar
        )
        if later and later[0] <= now:
            return SkipIt(f"superseded by the {_tick_label(later[0], zone)}; catchup is latest")
    return RunIt()


async def _prefect_ticks(schedule: CronSchedule, n: int, start: datetime) -> list[datetime]:
    # One extra: near a DST change Prefect can return a tick just before `start` (a
    # 02:30 tick on 2027-03-14 comes back at 06:30 UTC for a start of 06:31 UTC).
    dates = await schedule.get_dates(n=n + 1, start=start)
    ticks = [_stdlib_utc(date) for date in dates]
    return [tick for tick in ticks if tick >= start][:n]


def _croniter_accepts(expr: str) -> bool:
    # The vendored croniter is untyped; these two calls are all flowdesk uses of it.
    return bool(croniter.is_valid(expr))  # type: ignore[no-untyped-call]


def _first_tick(expr: str) -> None:
    croniter(expr, datetime.now(UTC)).get_next(datetime)  # type: ignore[no-untyped-call]


def _stdlib_utc(value: datetime) -> datetime:
    # get_dates returns pendulum DateTime subclasses; callers get plain UTC datetimes.
    utc = value.astimezone(UTC)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, UTC
    )


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value


def _tick_label(tick: datetime, zone: ZoneInfo) -> str:
    local = tick.astimezone(zone)
    return f"{local:%H:%M} tick ({local:%Y-%m-%d} {zone.key})"


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())
