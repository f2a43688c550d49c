"""Request ids and problem+json errors (``siyu.core.http``), on a bare app and on the real one."""

from __future__ import annotations

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from siyu.core import http
from siyu.core.errors import NotFound
from tests.factories import auth, make_world


def _bare_app() -> FastAPI:
    app = FastAPI()
    http.install(app)

    @app.get("/context")
    def context() -> dict[str, object]:
        return dict(structlog.contextvars.get_contextvars())

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("thing 7 not found", hint="list the things first")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the disk is on fire")

    @app.get("/boom-async")
    async def boom_async() -> None:
        raise KeyError("nothing here")

    return app


def test_request_id_is_taken_from_the_request_or_made_up_and_bound_for_logs() -> None:
    with TestClient(_bare_app()) as client:
        given = client.get("/context", headers={"X-Request-ID": "req-abc-123"})
        assert given.status_code == 200
        assert given.headers["x-request-id"] == "req-abc-123"
        assert given.json()["request_id"] == "req-abc-123"
        made = client.get("/context")
        rid = made.headers["x-request-id"]
        assert len(rid) == 32
        assert made.json()["request_id"] == rid
        assert client.get("/context").headers["x-request-id"] != rid
    # unbound once the request is over
    assert "request_id" not in structlog.contextvars.get_contextvars()


def test_app_errors_are_problems_quoting_the_request_id() -> None:
    with TestClient(_bare_app()) as client:
        r = client.get("/missing", headers={"X-Request-ID": "rid-404"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "rid-404"
    body = r.json()
    assert (body["code"], body["status"], body["request_id"]) == ("not_found", 404, "rid-404")
    assert body["hint"] == "list the things first"


@pytest.mark.parametrize("path", ["/boom", "/boom-async"])
def test_an_unexpected_exception_is_a_logged_500_with_the_request_id(path: str) -> None:
    """Not a dropped connection: the client gets a problem it can quote, the log has the trace."""
    # raise_server_exceptions: if the error escaped the middleware, the client would raise it
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        TestClient(_bare_app(), raise_server_exceptions=True) as client,
    ):
        r = client.get(path, headers={"X-Request-ID": "rid-500"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "rid-500"
    body = r.json()
    assert (body["code"], body["status"], body["request_id"]) == ("internal_error", 500, "rid-500")
    assert "fire" not in r.text  # no internals to the client
    assert "nothing here" not in r.text
    errors = [e for e in logs if e["event"] == "unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["path"] == path
    assert errors[0]["request_id"] == "rid-500"
    assert errors[0]["exc_info"] is True


def test_the_api_answers_with_request_ids(client: TestClient) -> None:
    """On the real app (both databases): a signed-in call and a refused one carry the id."""
    w = make_world("rid")
    me = client.get("/api/v1/me", headers={**auth(w.users["admin"]), "X-Request-ID": "rid-me"})
    assert me.status_code == 200
    assert me.headers["x-request-id"] == "rid-me"
    refused = client.get("/api/v1/me", headers={"X-Request-ID": "rid-401"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "rid-401"
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["request_id"] == "rid-401"
    invalid = client.post("/api/v1/events", headers=auth(w.users["admin"]), json={"events": []})
    assert invalid.status_code == 422
    assert invalid.json()["request_id"] == invalid.headers["x-request-id"]
