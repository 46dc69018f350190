"""JSON-lines logs: every line an object with the context, the extras and the exception."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowdesk.jsonlog import JsonFormatter, current_context, log_context

ROOT = Path(__file__).resolve().parents[1]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Captured:
    def __init__(self, logger: logging.Logger, stream: io.StringIO) -> None:
        self.logger = logger
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        """Every line written, each parsed as JSON (fails on a line that is not)."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A logger of its own writing through the formatter into memory."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"flowdesk.test.{uuid.uuid4().hex[:8]}")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield Captured(logger, stream)
    finally:
        logger.removeHandler(handler)


class TestJsonFormatter:
    def test_a_line_has_timestamp_level_logger_and_event(self, captured: Captured) -> None:
        captured.logger.info("company_analysis_complete for %s", "GILD")

        (line,) = captured.lines()
        assert TIMESTAMP.match(line["timestamp"]), line["timestamp"]
        assert line["level"] == "info"
        assert line["logger"] == captured.logger.name
        assert line["event"] == "company_analysis_complete for GILD"

    def test_timestamp_is_utc_with_milliseconds(self, captured: Captured) -> None:
        before = datetime.now(UTC)
        captured.logger.warning("now")
        (line,) = captured.lines()
        logged = datetime.strptime(line["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

        assert abs((logged - before).total_seconds()) < 5
        assert line["level"] == "warning"

    def test_context_fields_are_on_every_record_inside_the_block(self, captured: Captured) -> None:
        run_id = uuid.uuid4()
        with log_context(run_id=run_id, flow="biotech-daily-scan"):
            captured.logger.info("scan started")
            with log_context(company_id="GILD"):
                captured.logger.info("company scanned")
            captured.logger.info("scan finished")
        captured.logger.info("after")

        started, scanned, finished, after = captured.lines()
        assert started["run_id"] == str(run_id)
        assert started["flow"] == "biotech-daily-scan"
        assert "company_id" not in started
        assert scanned["company_id"] == "GILD"
        assert scanned["run_id"] == str(run_id)
        assert "company_id" not in finished
        assert finished["run_id"] == str(run_id)
        assert set(after) == {"timestamp", "level", "logger", "event"}
        assert current_context() == {}

    def test_context_follows_asyncio_tasks(self, captured: Captured) -> None:
        async def scan(company: str) -> None:
            with log_context(company_id=company):
                await asyncio.sleep(0)  # the other task runs in between
                captured.logger.info("scanned")

        async def main() -> None:
            with log_context(run_id="r1"):
                await asyncio.gather(scan("GILD"), scan("MRNA"))

        asyncio.run(main())

        lines = captured.lines()
        assert sorted((line["company_id"], line["run_id"]) for line in lines) == [
            ("GILD", "r1"),
            ("MRNA", "r1"),
        ]

    def test_extra_fields_are_kept_with_their_json_types(self, captured: Captured) -> None:
        at = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
        with log_context(company_id="GILD"):
            captured.logger.warning(
                "news-feed: attempt 1/3 failed",
                extra={"dependency": "news-feed", "attempt": 1, "delay": 0.5, "at": at},
            )

        (line,) = captured.lines()
        assert line["dependency"] == "news-feed"
        assert line["attempt"] == 1
        assert line["delay"] == 0.5
        assert line["at"] == "2024-01-15T10:30:00+00:00"
        assert line["company_id"] == "GILD"

    def test_an_extra_field_wins_over_the_context(self, captured: Captured) -> None:
        with log_context(company_id="GILD"):
            captured.logger.info("moved on", extra={"company_id": "MRNA"})

        assert captured.lines()[0]["company_id"] == "MRNA"

    def test_an_extra_named_like_a_base_field_does_not_replace_it(self, captured: Captured) -> None:
        captured.logger.info("the message", extra={"event": "fda_approval"})

        (line,) = captured.lines()
        assert line["event"] == "the message"
        assert line["extra_event"] == "fda_approval"

    def test_an_exception_is_one_field_of_the_same_line(self, captured: Captured) -> None:
        try:
            raise RuntimeError("feed timed out")
        except RuntimeError:
            captured.logger.exception("scan failed")

        (line,) = captured.lines()
        assert line["level"] == "error"
        assert line["exception"].startswith("Traceback (most recent call last)")
        assert "RuntimeError: feed timed out" in line["exception"]

    def test_prefect_run_logger_attributes_name_the_flow(self, captured: Captured) -> None:
        flow_run_id = str(uuid.uuid4())
        captured.logger.info(
            "Finished in state Completed()",
            extra={
                "flow_run_id": flow_run_id,
                "flow_run_name": "brave-fox",
                "flow_name": "screener",
                "task_run_id": "<unknown>",
            },
        )

        (line,) = captured.lines()
        assert line["flow"] == "screener"
        assert line["flow_run_id"] == flow_run_id
        assert line["flow_run_name"] == "brave-fox"
        assert "task_run_id" not in line
        assert "flow_name" not in line

    def test_records_inside_a_flow_run_name_it(self, captured: Captured) -> None:
        from prefect import flow
        from prefect.client.orchestration import PrefectClient
        from prefect.client.schemas.objects import FlowRun
        from prefect.context import FlowRunContext
        from prefect.results import ResultStore
        from prefect.task_runners import ThreadPoolTaskRunner

        @flow(name="screener")
        def screener(run_id: str) -> None:
            pass

        flow_run = FlowRun(id=uuid.uuid4(), name="brave-fox", flow_id=uuid.uuid4())
        context = FlowRunContext(
            flow=screener,
            flow_run=flow_run,
            # Never called: the formatter only reads the context.
            client=PrefectClient("http://127.0.0.1:9/api"),
            task_runner=ThreadPoolTaskRunner(),
            result_store=ResultStore(),
            parameters={"run_id": "0b6f0c5e-run"},
        )
        with context:
            captured.logger.info("snapshot loaded")
        captured.logger.info("outside")

        inside, outside = captured.lines()
        assert inside["flow"] == "screener"
        assert inside["flow_run_id"] == str(flow_run.id)
        assert inside["run_id"] == "0b6f0c5e-run"
        assert "flow" not in outside

    def test_uvicorn_access_lines_have_the_request_fields(self) -> None:
        record = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", "/metrics", "1.1", 200),
            None,
        )
        line = json.loads(JsonFormatter().format(record))

        assert line["event"] == '127.0.0.1:5000 - "GET /metrics HTTP/1.1" 200'
        assert (line["method"], line["path"], line["status"]) == ("GET", "/metrics", 200)


def run_python(code: str, tmp_path: Path, *, shipped_config: bool) -> list[str]:
    """Run `code` in a fresh interpreter, with config/logging.yml as Prefect's logging
    config or with Prefect's own; its stderr lines."""
    env = {
        **os.environ,
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": "http://127.0.0.1:9/api",
    }
    env.pop("PREFECT_LOGGING_SETTINGS_PATH", None)
    if shipped_config:
        env["PREFECT_LOGGING_SETTINGS_PATH"] = str(ROOT / "config" / "logging.yml")
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line for line in result.stderr.splitlines() if line.strip()]


class TestProcessConfig:
    def test_prefect_processes_log_json_with_the_shipped_config(self, tmp_path: Path) -> None:
        lines = run_python(
            "import logging, prefect.main\n"
            "logging.getLogger('prefect.flow_runs').info('Beginning flow run',"
            " extra={'flow_name': 'screener', 'flow_run_id': 'f1', 'flow_run_name': 'fox'})\n"
            "logging.getLogger('flowdesk.biotech').info('company scanned')\n"
            "logging.getLogger('uvicorn.error').warning('server busy')\n"
            "logging.getLogger('some.library').warning('deprecated')\n"
            "logging.getLogger('some.library').info('not shown: the root logs warnings')\n",
            tmp_path,
            shipped_config=True,
        )

        records = [json.loads(line) for line in lines]
        assert [(r["logger"], r["event"]) for r in records] == [
            ("prefect.flow_runs", "Beginning flow run"),
            ("flowdesk.biotech", "company scanned"),
            ("uvicorn.error", "server busy"),
            ("some.library", "deprecated"),
        ]
        assert records[0]["flow"] == "screener"
        assert records[0]["flow_run_id"] == "f1"

    @pytest.mark.parametrize("shipped_config", [True, False])
    def test_the_api_process_logs_json_after_prefect_is_imported(
        self, tmp_path: Path, shipped_config: bool
    ) -> None:
        # What `flowdesk api` does: configure, give uvicorn the same config, then import
        # the app, whatever Prefect's logging config is.
        lines = run_python(
            "import logging, logging.config\n"
            "from flowdesk.jsonlog import configure_json_logging, logging_config\n"
            "configure_json_logging()\n"
            "logging.config.dictConfig(logging_config())\n"
            "import api.main\n"
            "logging.getLogger('flowdesk.api').info('reconciled 2 runs')\n"
            "logging.getLogger('api.errors').warning('integrity error')\n"
            "logging.getLogger('uvicorn.access').info('%s - \"%s %s HTTP/%s\" %d',"
            " '127.0.0.1:1', 'GET', '/metrics', '1.1', 200)\n",
            tmp_path,
            shipped_config=shipped_config,
        )

        records = [json.loads(line) for line in lines]
        assert [r["event"] for r in records] == [
            "reconciled 2 runs",
            "integrity error",
            '127.0.0.1:1 - "GET /metrics HTTP/1.1" 200',
        ]
