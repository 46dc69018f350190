"""Domain errors, each carrying the HTTP status the API answers with.

    FlowdeskError
    ├── NotFound (404)            RunNotFound, ScreenerSetNotFound, UserNotFound,
    │                             ScheduleNotFound
    ├── Conflict (409)            RunNotCancellable, RunNotRerunnable, UserExists,
    │                             ScheduleExists, ScheduleQuotaExceeded
    ├── InvalidRequest (422)      the request names a thing that does not exist or cannot be used
    ├── Unauthorized (401)        missing, wrong or revoked API key
    ├── ServiceUnavailable (503)  a dependency (database, Prefect, Redis) cannot be reached
    └── ConfigError               a file under config/ is invalid (raised at start-up, never a 4xx)

The API renders every one as ``{"error": <class name>, "detail": <message>}``.
"""

from __future__ import annotations

from typing import Any


class FlowdeskError(Exception):
    status_code = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def error(self) -> str:
        return type(self).__name__


class NotFound(FlowdeskError):
    status_code = 404


class RunNotFound(NotFound):
    pass


class ScreenerSetNotFound(NotFound):
    pass


class UserNotFound(NotFound):
    pass


class Conflict(FlowdeskError):
    status_code = 409


class RunNotCancellable(Conflict):
    pass


class UserExists(Conflict):
    pass


class ScheduleNotFound(NotFound):
    pass


class ScheduleExists(Conflict):
    pass


class ScheduleQuotaExceeded(Conflict):
    pass


class InvalidRequest(FlowdeskError):
    """Rendered like a validation error: `fields` names the offending input."""

    status_code = 422

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if field is not None:
            self.extra["fields"] = [{"field": field, "message": detail}]


class Unauthorized(FlowdeskError):
    status_code = 401


class ServiceUnavailable(FlowdeskError):
    status_code = 503


class ConfigError(FlowdeskError):
    """A config file is invalid: the message names the file, the entry and the fix."""


class RunNotRerunnable(Conflict):
    """Only a finished run (completed, failed, cancelled, crashed or skipped) can be rerun."""
