"""Logs as JSON lines: one object per record, naming the run, flow and company it concerns.

    with log_context(run_id=run.id, company_id="GILD"):
        logger.info("company_analysis_complete", extra={"duration": 45.2, "insights_count": 5})

    {"timestamp": "2024-01-15T10:30:45.123Z", "level": "info", "logger": "flowdesk.biotech",
     "event": "company_analysis_complete", "run_id": "…", "company_id": "GILD",
     "duration": 45.2, "insights_count": 5}

Fields come from, later ones winning: the Prefect flow run the record is logged in (flow,
flow_run_id, and run_id when the flow took one), `log_context`, and the record's own
attributes (the call's `extra=`, and Prefect's run loggers' flow_name, flow_run_id,
task_run_name). Flow-run processes get the formatter from `config/logging.yml` (through
PREFECT_LOGGING_SETTINGS_PATH); flowdesk's own processes call `configure_json_logging`.
"""

from __future__ import annotations

import enum
import json
import logging
import logging.config
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "flowdesk_log_context", default=MappingProxyType({})
)

# A record's standard attributes; any other attribute came from `extra=` or Prefect.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",  # Python 3.12+
    "color_message",  # uvicorn's coloured copy of the message
    "send_to_api",  # Prefect's switch for its API handler
}
# Prefect's run-logger attributes under flowdesk's names.
_RENAMED = {"flow_name": "flow"}


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged inside the block (None values are left out)."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    """The fields `log_context` adds here."""
    return dict(_context.get())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, event, then the context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = {**_flow_run_fields(), **_context.get()}
        for key, value in vars(record).items():
            if key not in _STANDARD:
                fields[_RENAMED.get(key, key)] = value
        if record.name == "uvicorn.access":
            fields.update(_access_fields(record))
        for key, value in fields.items():
            if value is None or value == "<unknown>":
                continue
            entry[f"extra_{key}" if key in entry else key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_jsonable, ensure_ascii=False)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z"


def _flow_run_fields() -> dict[str, Any]:
    """The Prefect flow run this record is logged in, if any.

    Looked up only where Prefect is already imported, so that a process without flows
    does not import it for its logs.
    """
    context = sys.modules.get("prefect.context")
    if context is None:
        return {}
    run = context.FlowRunContext.get()
    if run is None or run.flow_run is None:
        return {}
    fields: dict[str, Any] = {
        "flow_run_id": str(run.flow_run.id),
        "flow_run_name": run.flow_run.name,
    }
    if run.flow is not None:
        fields["flow"] = run.flow.name
    run_id = (run.parameters or {}).get("run_id")
    if run_id is not None:
        fields["run_id"] = str(run_id)
    return fields


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    # uvicorn's access log: '%s - "%s %s HTTP/%s" %d' % (client, method, path, version, status)
    args = record.args
    if not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _, status = args
    return {"client": client, "method": method, "path": path, "status": status}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: the root and uvicorn's loggers as JSON lines on
    stderr (also uvicorn's `log_config=`)."""
    json_handler = {"handlers": ["console"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "flowdesk.jsonlog.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": json_handler,
            "uvicorn.error": {"level": level},
            "uvicorn.access": json_handler,
            "fastapi": json_handler,
            # One INFO line per request otherwise: the API's reconciler alone calls
            # Prefect every few seconds.
            "httpx": {"level": "WARNING"},
        },
        "root": {"handlers": ["console"], "level": level},
    }


def configure_json_logging(level: str = "INFO") -> None:
    """Log JSON lines on stderr in this process (the API, the CLI's long-running commands).

    Prefect configures logging once, when `prefect.main` is first imported, and replaces
    uvicorn's handlers then: importing it first makes this configuration the last word,
    whatever PREFECT_LOGGING_SETTINGS_PATH says (an API process imports Prefect anyway).
    """
    import prefect.main  # noqa: F401

    logging.config.dictConfig(logging_config(level))
