"""HTTP glue shared by every router: problem+json errors and request ids."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.core.errors import AppError

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"
REQUEST_ID_HEADER = b"x-request-id"
_INTERNAL_ERROR = {
    "title": "Internal error",
    "code": "internal_error",
    "detail": "an unexpected error occurred; it has been logged",
    "hint": "quote the request_id when you report it",
}


def _problem_body(status: int, body: dict[str, Any], request_id: str | None) -> dict[str, Any]:
    body.setdefault("type", f"https://siyu.dev/problems/{body.get('code', 'error')}")
    body["status"] = status
    body["request_id"] = request_id
    return body


def _problem(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        _problem_body(status, body, request_id), status_code=status, media_type=PROBLEM
    )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and value:
            return str(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Give every HTTP request an id: logged with everything it causes and sent back.

    The id comes from the ``X-Request-ID`` header or is made up; it is bound as a structlog
    context variable for the request, kept in ``request.state.request_id`` (error bodies quote
    it) and returned in the response's ``X-Request-ID`` header. An exception nobody handled
    becomes a logged 500 ``application/problem+json`` response carrying the id, as long as the
    response has not started; after that the connection can only be closed.

    A plain ASGI middleware: no task, queue or stream per request (``BaseHTTPMiddleware`` costs
    all three), which matters on the ingest path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID_HEADER, rid.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"))
            if started:
                raise
            response = JSONResponse(
                _problem_body(500, dict(_INTERNAL_ERROR), rid), status_code=500, media_type=PROBLEM
            )
            await response(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def install(app: FastAPI) -> None:
    """Add request ids and render every error as ``application/problem+json``."""
    app.add_middleware(RequestIdMiddleware)

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
