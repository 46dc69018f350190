"""Tests for the report type registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flowdesk.errors import InvalidRequest
from flowdesk.reports.registry import (
    REPORT_TYPES,
    BiotechWeeklyParams,
    SystemStatusParams,
    parse_report_params,
)


class TestParseReportParams:
    def test_empty_parameters_give_the_defaults(self) -> None:
        params = parse_report_params("system_status", {})

        assert params == SystemStatusParams(
            include_details=True, window_hours=24, failures_limit=10
        )

    def test_given_parameters_are_kept(self) -> None:
        params = parse_report_params(
            "system_status", {"include_details": False, "window_hours": 168, "failures_limit": 0}
        )

        assert isinstance(params, SystemStatusParams)
        assert (params.include_details, params.window_hours, params.failures_limit) == (
            False,
            168,
            0,
        )

    def test_unknown_report_type_is_422_listing_the_known_ones(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            parse_report_params("x", {})

        assert caught.value.detail == (
            "unknown report_type 'x'; known report types: biotech_weekly, system_status"
        )
        assert caught.value.status_code == 422

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("window_hours", 0),
            ("window_hours", 24 * 90 + 1),
            ("failures_limit", 101),
            ("failures_limit", -1),
            ("include_details", "perhaps"),
        ],
    )
    def test_out_of_range_parameter_names_the_field(self, field: str, value: object) -> None:
        with pytest.raises(ValidationError) as caught:
            parse_report_params("system_status", {field: value})

        assert [error["loc"] for error in caught.value.errors()] == [(field,)]

    def test_extra_parameter_is_rejected(self) -> None:
        with pytest.raises(ValidationError) as caught:
            parse_report_params("system_status", {"window_hours": 24, "windw_days": 1})

        [error] = caught.value.errors()
        assert error["type"] == "extra_forbidden"
        assert error["loc"] == ("windw_days",)


class TestReportTypes:
    def test_system_status_and_the_weekly_biotech_report_are_registered(self) -> None:
        assert REPORT_TYPES == {
            "system_status": SystemStatusParams,
            "biotech_weekly": BiotechWeeklyParams,
        }
