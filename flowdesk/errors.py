"""Domain errors, each carrying the HTTP status the API answers with.

    FlowdeskError
    ├── NotFound (404)            RunNotFound, ScreenerSetNotFound, UserNotFound,
    │                             ScheduleNotFound
    ├── Conflict (409)            RunNotCancellable, RunNotRerunnable, UserExists,
    │                             ScheduleExists, ScheduleQuotaExceeded
    ├── InvalidRequest (422)      the request names a thing that does not exist or cannot be used
    ├── Unauthorized (401)        missing, wrong or revoked API key
    ├── Forbidden (403)           an admin-only action (maintenance, dead letters)
    ├── Gone (410)                ArtifactArchived: moved to the archive by report archival
    ├── ServiceUnavailable (503)  a dependency (database, Prefect, Redis) cannot be reached
    │   └── DependencyUnavailable an outbound call (news feed, Backend API, alerts) failed
    │       │                     on every retry; names the dependency and the attempts
    │       └── CircuitOpen       its circuit breaker is open: the call failed fast, unmade
    └── ConfigError               a file under config/ is invalid (raised at start-up, never a 4xx)

The API renders every one as ``{"error": <class name>, "detail": <message>}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


class Forbidden(FlowdeskError):
    status_code = 403


class Gone(FlowdeskError):
    status_code = 410


class ArtifactArchived(Gone):
    pass


class ServiceUnavailable(FlowdeskError):
    status_code = 503


class DependencyUnavailable(ServiceUnavailable):
    """An outbound dependency failed on every attempt; `last_error` says how it last failed."""

    def __init__(
        self,
        dependency: str,
        *,
        attempts: int,
        last_error: str,
        detail: str | None = None,
        **extra: Any,
    ) -> None:
        if detail is None:
            plural = "s" if attempts != 1 else ""
            detail = f"{dependency} is unavailable after {attempts} attempt{plural}: {last_error}"
        super().__init__(detail, dependency=dependency, attempts=attempts, **extra)
        self.dependency = dependency
        self.attempts = attempts
        self.last_error = last_error


class CircuitOpen(DependencyUnavailable):
    """The dependency's circuit breaker is open, so the call failed fast without being made."""

    def __init__(
        self, dependency: str, *, failures: int, reopens_at: float, trial_in_flight: bool = False
    ) -> None:
        when = datetime.fromtimestamp(reopens_at, UTC).isoformat(timespec="seconds")
        opened = f"circuit for {dependency} opened after {failures} consecutive failures"
        if trial_in_flight:
            detail = f"{opened}; half-open since {when}, one trial call is in flight: failing fast"
        else:
            wait = max(0.0, reopens_at - datetime.now(UTC).timestamp())
            detail = f"{opened}; failing fast until it half-opens at {when} (in {wait:.1f} s)"
        super().__init__(
            dependency,
            attempts=0,
            last_error=opened,
            detail=detail,
            failures=failures,
            reopens_at=when,
        )
        self.failures = failures
        self.reopens_at = reopens_at


class ConfigError(FlowdeskError):
    """A config file is invalid: the message names the file, the entry and the fix."""


class RunNotRerunnable(Conflict):
    """Only a finished run (any status but pending and running) can be rerun."""
