"""One JSON shape for every error: `{"error": "RunNotFound", "detail": "…"}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from flowdesk.errors import FlowdeskError, InvalidRequest

logger = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str = Field(examples=["filter_criteria.pe_ratio_maxx"])
    message: str = Field(examples=["unknown field 'pe_ratio_maxx'"])


class ErrorOut(BaseModel):
    """Every error the API answers with."""

    error: str = Field(examples=["RunNotFound"])
    detail: str = Field(examples=["no run 7b0f…"])
    fields: list[FieldError] | None = Field(None, description="On 422: each bad input.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, wrong or revoked API key"},
    404: {"model": ErrorOut, "description": "No such resource, or not yours"},
    422: {"model": ErrorOut, "description": "Invalid input; `fields` names each bad one"},
    503: {"model": ErrorOut, "description": "The database or the Prefect API is unavailable"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {"model": ErrorOut, "description": "Admins only"},
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def field_errors(errors: Sequence[Any], prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic errors as `{"field", "message", "type"}`, fields named by dotted path."""
    fields = []
    for err in errors:
        kind = err.get("type")
        # A body that is not JSON at all reports the character offset as its location.
        field = "body" if kind == "json_invalid" else _field_name(tuple(err.get("loc", ())))
        if prefix:
            field = f"{prefix}.{field}"
        message = str(err.get("msg", "invalid"))
        if kind == "extra_forbidden":
            message = f"unknown field '{field.rsplit('.', 1)[-1]}'"
        fields.append({"field": field, "message": message, "type": kind})
    return fields


def invalid_request(fields: list[dict[str, Any]]) -> InvalidRequest:
    """One 422 for a list of field errors."""
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return InvalidRequest(detail, fields=fields)


# How long a client should wait before retrying when every database connection was busy,
# or when Postgres rolled the request back in a conflict with another transaction.
POOL_RETRY_AFTER_SECONDS = 1
# deadlock_detected and serialization_failure: the transaction was rolled back whole.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def _json(
    status: int,
    error: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that render every error as JSON."""

    @app.exception_handler(FlowdeskError)
    async def domain_error(_: Request, exc: FlowdeskError) -> JSONResponse:
        return _json(exc.status_code, exc.error, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = invalid_request(field_errors(exc.errors()))
        return _json(422, error.error, error.detail, **error.extra)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthorized"}
        return _json(exc.status_code, names.get(exc.status_code, "HTTPError"), str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def integrity_error(_: Request, exc: IntegrityError) -> JSONResponse:
        logger.warning("integrity error: %s", exc.orig)
        return _json(409, "Conflict", "the request conflicts with an existing record")

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or "connect" in str(exc.orig).lower():
            return _json(503, "ServiceUnavailable", f"database unavailable: {exc.orig}")
        if getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
            # Postgres rolled this request's open transaction back to let a concurrent one
            # finish; the request can be sent again (a submission with its Idempotency-Key).
            logger.warning("database conflict: %s", exc.orig)
            return _json(
                503,
                "ServiceUnavailable",
                "database busy: a concurrent update conflicted with this request, which "
                "was rolled back; retry shortly",
                headers={"Retry-After": str(POOL_RETRY_AFTER_SECONDS)},
            )
        logger.exception("database error")
        return _json(500, "InternalError", "a database error occurred; it has been logged")

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        # Every connection of this API process stayed busy for the pool's whole timeout:
        # overload, not a fault of the request; nothing was written.
        logger.warning("database connection pool exhausted: %s", exc)
        return _json(
            503,
            "ServiceUnavailable",
            "database busy: no connection became free in time; retry shortly",
            headers={"Retry-After": str(POOL_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(OSError)
    async def os_error(_: Request, exc: OSError) -> JSONResponse:
        # Connection refused to the database surfaces as OSError from the driver.
        return _json(503, "ServiceUnavailable", f"a dependency is unreachable: {exc}")
