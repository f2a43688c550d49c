"""HTTP glue shared by every router: problem+json errors and request ids."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from siyu.core.errors import AppError

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"


def _problem(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    body.setdefault("type", f"https://siyu.dev/problems/{body.get('code', 'error')}")
    body["status"] = status
    body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    """Add request ids and render every error as ``application/problem+json``."""

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            response = await call_next(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response.headers["x-request-id"] = rid
        return response

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> JSONResponse:
        if exc.status >= 500:
            log.error("app_error", code=exc.code, detail=exc.detail)
        body: dict[str, Any] = {"title": exc.title, "code": exc.code, "detail": exc.detail}
        if exc.hint:
            body["hint"] = exc.hint
        if exc.errors:
            body["errors"] = [e.as_dict() for e in exc.errors]
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        response = _problem(request, exc.status, body)
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
            errors.append({"field": ".".join(loc), "reason": err.get("msg", "invalid")})
        detail = "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors)
        return _problem(
            request,
            422,
            {
                "title": "Invalid input",
                "code": "invalid_input",
                "detail": detail,
                "hint": "fix the listed fields and send the request again",
                "errors": errors,
            },
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return _problem(
            request,
            500,
            {
                "title": "Internal error",
                "code": "internal_error",
                "detail": "an unexpected error occurred; it has been logged",
                "hint": "quote the request_id when you report it",
            },
        )
