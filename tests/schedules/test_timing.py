"""Cron, time zone, calendar and duration checks, fire times and the missed-run policy.

Pure functions: no Prefect server, only Prefect's CronSchedule and exchange_calendars.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from prefect.server.schemas.schedules import CronSchedule

from flowdesk.errors import InvalidRequest
from flowdesk.schedules import timing
from flowdesk.schedules.calendars import (
    closure_reason,
    is_trading_day,
    next_trading_day,
    validate_calendar,
)
from flowdesk.schedules.durations import format_duration, parse_duration
from flowdesk.schedules.timing import (
    Catchup,
    RunIt,
    SkipIt,
    check_min_interval,
    decide,
    next_fire_times,
    validate_cron,
    validate_timezone,
)

T = TypeVar("T")
NY = ZoneInfo("America/New_York")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def refusal(excinfo: pytest.ExceptionInfo[InvalidRequest]) -> tuple[str, str]:
    return excinfo.value.extra["fields"][0]["field"], excinfo.value.detail


class TestValidateCron:
    @pytest.mark.parametrize(
        "cron", ["0 9 * * 1-5", "*/5 * * * *", "30 8 1 JAN,JUL MON-FRI", "0 9 L * *", "@daily"]
    )
    def test_standard_cron_names_and_shortcuts_are_accepted(self, cron: str) -> None:
        assert validate_cron(cron) == cron

    def test_extra_whitespace_is_normalised(self) -> None:
        assert validate_cron("  0   9 * *  1-5 ") == "0 9 * * 1-5"

    @pytest.mark.parametrize(
        ("cron", "named"),
        [
            ("60 9 * * *", "minute field '60'"),
            ("0 24 * * *", "hour field '24'"),
            ("0 9 0 * *", "day-of-month field '0'"),
            ("0 9 * 13 *", "month field '13'"),
            ("0 9 * * FOO", "day-of-week field 'FOO'"),
            ("R 9 * * *", "random R and hashed H"),
        ],
    )
    def test_bad_field_value_is_named_with_an_example(self, cron: str, named: str) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            validate_cron(cron)
        field, detail = refusal(excinfo)
        assert field == "cron"
        assert named in detail
        assert '"0 9 * * 1-5"' in detail

    @pytest.mark.parametrize("cron", ["0 0 9 * * 1-5", "0 0 9 * * 1-5 2027"])
    def test_seconds_or_year_field_is_refused_although_prefect_accepts_it(self, cron: str) -> None:
        CronSchedule(cron=cron)  # Prefect's croniter takes 6 and 7 fields
        with pytest.raises(InvalidRequest, match="seconds or year field is not supported"):
            validate_cron(cron)

    @pytest.mark.parametrize("cron", ["", "   "])
    def test_empty_cron_is_refused(self, cron: str) -> None:
        with pytest.raises(InvalidRequest, match="cron is empty"):
            validate_cron(cron)

    def test_four_fields_are_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="has 4 fields"):
            validate_cron("0 9 * *")

    def test_reboot_shortcut_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="'@reboot' is not supported"):
            validate_cron("@reboot")

    def test_cron_that_never_fires_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="never fires"):
            validate_cron("0 9 31 2 *")


class TestValidateTimezone:
    def test_iana_name_is_accepted(self) -> None:
        assert validate_timezone("America/New_York") == "America/New_York"

    def test_near_miss_suggests_the_iana_name(self) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            validate_timezone("America/NewYork")
        assert refusal(excinfo) == (
            "timezone",
            "unknown time zone 'America/NewYork': did you mean 'America/New_York'? use an "
            "IANA name such as 'America/New_York', 'Europe/London' or 'UTC'",
        )

    def test_made_up_name_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="unknown time zone 'Mars/Olympus'"):
            validate_timezone("Mars/Olympus")


class TestNextFireTimes:
    def test_fire_times_are_plain_utc_datetimes(self) -> None:
        times = run(
            next_fire_times("*/15 * * * *", "UTC", after=datetime(2026, 11, 23, tzinfo=UTC))
        )
        assert [t.minute for t in times] == [0, 15, 30, 45, 0]
        assert all(type(t) is datetime and t.tzinfo is UTC for t in times)

    def test_daily_9am_new_york_stays_9am_across_fall_back(self) -> None:
        # Clocks go back on 2026-11-01: 09:00 EDT is 13:00 UTC, 09:00 EST is 14:00 UTC.
        times = run(next_fire_times("0 9 * * *", "America/New_York", after=ny(2026, 10, 30)))
        assert [t.astimezone(NY).strftime("%m-%d %H:%M") for t in times] == [
            "10-30 09:00",
            "10-31 09:00",
            "11-01 09:00",
            "11-02 09:00",
            "11-03 09:00",
        ]
        assert [t.hour for t in times] == [13, 13, 14, 14, 14]

    def test_daily_9am_new_york_stays_9am_across_spring_forward(self) -> None:
        times = run(next_fire_times("0 9 * * *", "America/New_York", after=ny(2027, 3, 12)))
        assert [t.astimezone(NY).strftime("%m-%d %H:%M") for t in times] == [
            "03-12 09:00",
            "03-13 09:00",
            "03-14 09:00",
            "03-15 09:00",
            "03-16 09:00",
        ]
        assert [t.hour for t in times] == [14, 14, 13, 13, 13]

    def test_0230_on_spring_forward_day_fires_at_0130_as_prefect_does(self) -> None:
        # 02:30 does not exist on 2027-03-14 in New York; Prefect fires an hour early, at
        # 01:30 EST (06:30 UTC). The module docstring says so.
        times = run(next_fire_times("30 2 * * *", "America/New_York", 3, after=ny(2027, 3, 13, 3)))
        assert [t.isoformat() for t in times] == [
            "2027-03-14T06:30:00+00:00",
            "2027-03-15T06:30:00+00:00",
            "2027-03-16T06:30:00+00:00",
        ]
        assert times[0].astimezone(NY).strftime("%H:%M %Z") == "01:30 EST"
        assert "01:30 local (06:30 UTC)" in (timing.__doc__ or "")

    def test_preview_equals_prefects_own_dates(self) -> None:
        schedule = CronSchedule(cron="*/30 1-3 * * *", timezone="America/New_York")
        start = ny(2027, 3, 13)
        prefect = run(schedule.get_dates(n=12, start=start))
        ours = run(next_fire_times("*/30 1-3 * * *", "America/New_York", 12, after=start))
        assert ours == [d.astimezone(UTC) for d in prefect]

    def test_tick_exactly_at_after_is_included(self) -> None:
        times = run(next_fire_times("0 9 * * *", "America/New_York", 1, after=ny(2026, 11, 23, 9)))
        assert times == [ny(2026, 11, 23, 9)]

    def test_xnys_calendar_skips_weekend_and_thanksgiving(self) -> None:
        times = run(
            next_fire_times(
                "0 9 * * *", "America/New_York", after=ny(2026, 11, 20), calendar="XNYS"
            )
        )
        assert [t.astimezone(NY).date().isoformat() for t in times] == [
            "2026-11-20",  # Friday
            "2026-11-23",
            "2026-11-24",
            "2026-11-25",
            "2026-11-27",  # Thursday 26th is Thanksgiving
        ]

    def test_minutely_cron_jumps_over_a_closed_day(self) -> None:
        times = run(
            next_fire_times(
                "* * * * *", "America/New_York", 2, after=ny(2026, 11, 25, 23, 59), calendar="XNYS"
            )
        )
        assert times == [ny(2026, 11, 25, 23, 59), ny(2026, 11, 27, 0, 0)]

    def test_cron_that_never_meets_a_session_returns_nothing_after_two_years(self) -> None:
        saturdays = next_fire_times("0 9 * * 6", "America/New_York", calendar="XNYS")
        assert run(saturdays) == []

    def test_naive_after_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            run(next_fire_times("0 9 * * *", "UTC", after=datetime(2026, 11, 23)))

    def test_more_than_prefect_checks_per_call_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="between 1 and 1000"):
            run(next_fire_times("0 9 * * *", "UTC", 1001))


class TestCheckMinInterval:
    AFTER = datetime(2026, 11, 23, tzinfo=UTC)

    def test_minutely_cron_passes_a_one_minute_minimum(self) -> None:
        run(check_min_interval("* * * * *", "UTC", timedelta(minutes=1), after=self.AFTER))

    def test_minutely_cron_is_refused_at_five_minutes(self) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            run(check_min_interval("* * * * *", "UTC", timedelta(minutes=5), after=self.AFTER))
        assert refusal(excinfo) == (
            "cron",
            "cron '* * * * *' fires every 1m at its most frequent; "
            "the minimum interval between runs is 5m",
        )

    def test_every_five_minutes_passes_at_five_minutes(self) -> None:
        run(check_min_interval("*/5 * * * *", "UTC", timedelta(minutes=5), after=self.AFTER))

    def test_dst_change_does_not_shrink_the_measured_gap(self) -> None:
        # In New York "0 1,3 * * *" fires 1 h apart on 2027-03-14 (06:00 and 07:00 UTC).
        after = ny(2027, 3, 13)
        run(check_min_interval("0 1,3 * * *", "America/New_York", timedelta(hours=2), after=after))


class TestValidateCalendar:
    def test_name_is_returned_as_exchange_calendars_spells_it(self) -> None:
        assert validate_calendar("xnys") == "XNYS"

    def test_unknown_calendar_lists_common_ones(self) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            validate_calendar("NOPE")
        field, detail = refusal(excinfo)
        assert field == "calendar"
        assert "unknown market calendar 'NOPE'" in detail
        assert "XNYS (New York)" in detail

    def test_unknown_calendar_in_a_preview_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="unknown market calendar"):
            run(next_fire_times("0 9 * * *", "UTC", calendar="NOPE"))


class TestIsTradingDay:
    @pytest.mark.parametrize(
        ("day", "trades"),
        [(date(2026, 11, 25), True), (date(2026, 11, 26), False), (date(2026, 11, 28), False)],
    )
    def test_xnys_sessions_around_thanksgiving(self, day: date, trades: bool) -> None:
        assert is_trading_day("XNYS", day) is trades

    def test_next_trading_day_skips_the_holiday(self) -> None:
        assert next_trading_day("XNYS", date(2026, 11, 25)) == date(2026, 11, 27)

    def test_day_beyond_the_calendar_is_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="outside them"):
            is_trading_day("XNYS", date.today() + timedelta(days=3650))


class TestClosureReason:
    def test_thanksgiving_is_a_holiday(self) -> None:
        assert closure_reason("XNYS", date(2026, 11, 26)) == (
            "XNYS is closed on 2026-11-26 (not a trading session: holiday)"
        )

    def test_saturday_is_a_weekend(self) -> None:
        assert closure_reason("xnys", date(2026, 11, 28)) == (
            "XNYS is closed on 2026-11-28 (not a trading session: weekend)"
        )

    def test_session_has_no_closure_reason(self) -> None:
        with pytest.raises(ValueError, match="it is a session"):
            closure_reason("XNYS", date(2026, 11, 27))


class TestParseDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (90, timedelta(seconds=90)),
            (60.0, timedelta(minutes=1)),
            ("120", timedelta(minutes=2)),
            ("90s", timedelta(seconds=90)),
            ("30m", timedelta(minutes=30)),
            ("1h", timedelta(hours=1)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1H 30M", timedelta(hours=1, minutes=30)),
            ("2d", timedelta(days=2)),
            ("PT1H", timedelta(hours=1)),
            ("P1DT2H", timedelta(days=1, hours=2)),
            ("P1W", timedelta(days=7)),
        ],
    )
    def test_accepted_forms(self, value: str | int | float, expected: timedelta) -> None:
        assert parse_duration(value) == expected

    @pytest.mark.parametrize("value", ["1m", 60, "7d", "PT168H"])
    def test_bounds_are_inclusive(self, value: str | int) -> None:
        parse_duration(value)

    @pytest.mark.parametrize(("value", "got"), [(59, "59s"), ("7d1s", "7d00h00m01s")])
    def test_outside_one_minute_to_seven_days_is_refused(self, value: str | int, got: str) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            parse_duration(value)
        assert refusal(excinfo) == (
            "stale_after",
            f"stale_after must be between 1m and 7d, got {got}",
        )

    @pytest.mark.parametrize("value", ["", "soon", "1x", "P1M", "PT", True, float("nan"), 1e300])
    def test_non_duration_is_refused(self, value: str | float) -> None:
        with pytest.raises(InvalidRequest, match="is not a duration"):
            parse_duration(value)

    def test_error_names_the_callers_field(self) -> None:
        with pytest.raises(InvalidRequest) as excinfo:
            parse_duration("soon", field="grace")
        assert refusal(excinfo)[0] == "grace"


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("duration", "text"),
        [
            (timedelta(hours=1), "1h"),
            (timedelta(hours=1, minutes=30), "1h30m"),
            (timedelta(hours=2, minutes=5), "2h05m"),
            (timedelta(hours=1, seconds=1), "1h00m01s"),
            (timedelta(seconds=59, microseconds=900_000), "59s"),
            (timedelta(0), "0s"),
            (timedelta(seconds=-90), "-1m30s"),
        ],
    )
    def test_text(self, duration: timedelta, text: str) -> None:
        assert format_duration(duration) == text

    def test_parse_reads_what_format_writes(self) -> None:
        for duration in (timedelta(minutes=1), timedelta(days=1, seconds=30), timedelta(days=7)):
            assert parse_duration(format_duration(duration)) == duration


class TestDecide:
    NINE = ny(2026, 11, 23, 9)  # a Monday session

    def decide(
        self,
        late: timedelta,
        *,
        catchup: Catchup = Catchup.LATEST,
        scheduled_for: datetime = NINE,
        cron: str = "0 9 * * *",
        calendar: str | None = None,
        stale_after: timedelta = timedelta(hours=1),
    ) -> RunIt | SkipIt:
        return run(
            decide(
                scheduled_for=scheduled_for,
                now=scheduled_for + late,
                cron=cron,
                timezone="America/New_York",
                calendar=calendar,
                catchup=catchup,
                stale_after=stale_after,
            )
        )

    def test_on_time_session_tick_runs(self) -> None:
        assert self.decide(timedelta(seconds=2), calendar="XNYS") == RunIt()

    def test_holiday_tick_is_skipped_even_on_time(self) -> None:
        thanksgiving = ny(2026, 11, 26, 9)
        assert self.decide(timedelta(0), scheduled_for=thanksgiving, calendar="XNYS") == SkipIt(
            "XNYS is closed on 2026-11-26 (not a trading session: holiday)"
        )

    def test_calendar_uses_the_ticks_local_date(self) -> None:
        # 20:00 Friday in New York is 01:00 Saturday UTC: Friday is the date that counts.
        friday_evening = ny(2026, 11, 27, 20)
        assert self.decide(timedelta(0), scheduled_for=friday_evening, calendar="XNYS") == RunIt()

    def test_exactly_stale_after_late_still_runs(self) -> None:
        assert self.decide(timedelta(hours=1), catchup=Catchup.ALL) == RunIt()

    def test_more_than_stale_after_late_is_stale_whatever_the_catchup(self) -> None:
        assert self.decide(timedelta(hours=2, minutes=5), catchup=Catchup.ALL) == SkipIt(
            "stale: started 2h05m after its 09:00 tick (2026-11-23 America/New_York); "
            "stale_after is 1h"
        )

    @pytest.mark.parametrize("late", [timedelta(seconds=30), timedelta(seconds=60)])
    def test_none_runs_within_the_grace(self, late: timedelta) -> None:
        assert self.decide(late, catchup=Catchup.NONE) == RunIt()

    def test_none_skips_past_the_grace(self) -> None:
        assert self.decide(timedelta(seconds=61), catchup=Catchup.NONE) == SkipIt(
            "missed: started 1m01s after its 09:00 tick (2026-11-23 America/New_York); "
            "catchup is none and the grace is 1m"
        )

    def test_latest_runs_a_late_tick_before_the_next_one_is_due(self) -> None:
        late = timedelta(minutes=4, seconds=59)
        assert self.decide(late, cron="*/5 * * * *") == RunIt()

    def test_latest_is_superseded_once_the_next_tick_is_due(self) -> None:
        assert self.decide(timedelta(minutes=5), cron="*/5 * * * *") == SkipIt(
            "superseded by the 09:05 tick (2026-11-23 America/New_York); catchup is latest"
        )

    def test_latest_with_two_missed_ticks_runs_only_the_last(self) -> None:
        # Started at 09:12: the 09:00 and 09:05 ticks are superseded, 09:10 runs.
        now = ny(2026, 11, 23, 9, 12)
        verdicts = {
            tick: self.decide(
                now - ny(2026, 11, 23, 9, tick),
                scheduled_for=ny(2026, 11, 23, 9, tick),
                cron="*/5 * * * *",
            )
            for tick in (0, 5, 10)
        }
        assert verdicts == {
            0: SkipIt(
                "superseded by the 09:05 tick (2026-11-23 America/New_York); catchup is latest"
            ),
            5: SkipIt(
                "superseded by the 09:10 tick (2026-11-23 America/New_York); catchup is latest"
            ),
            10: RunIt(),
        }

    def test_latest_looks_for_the_next_tick_on_a_session(self) -> None:
        # Wednesday's 09:00 started Thursday 09:30: Thanksgiving's tick does not count.
        wednesday = ny(2026, 11, 25, 9)
        late = timedelta(days=1, minutes=30)
        week = timedelta(days=7)
        assert (
            self.decide(late, scheduled_for=wednesday, calendar="XNYS", stale_after=week) == RunIt()
        )
        assert self.decide(late, scheduled_for=wednesday, stale_after=week) == SkipIt(
            "superseded by the 09:00 tick (2026-11-26 America/New_York); catchup is latest"
        )

    def test_all_runs_every_tick_that_is_not_stale(self) -> None:
        assert (
            self.decide(timedelta(minutes=12), catchup=Catchup.ALL, cron="*/5 * * * *") == RunIt()
        )

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            self.decide(timedelta(0), scheduled_for=datetime(2026, 11, 23, 9))
