"""The fake WeCom server: real ``/cgi-bin/`` paths plus the ``/_fake/`` control API.

``create_fake_app(config, clock=...)`` builds it; ``fake_of(app)`` returns the ``FakeWeCom`` behind
it (state, callback dispatcher, limits, faults) for assertions. Each request first runs what is
due on the fake clock (transfers, auto-confirmed mass messages), and callbacks are delivered after
the state lock is released.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from siyu.channels.wecom.fake import contacts, groups, messages, tags, transfers, ways
from siyu.channels.wecom.fake.call import Call, Routes
from siyu.channels.wecom.fake.callbacks import CallbackDispatcher, CallbackHttp
from siyu.channels.wecom.fake.config import FakeConfig
from siyu.channels.wecom.fake.limits import FakeLimits, Faults
from siyu.channels.wecom.fake.state import AdvanceableClock, FakeState, IssuedToken, OffsetClock
from siyu.channels.wecom.fake.wire import Body, WeComFault, errmsg, parse_body

ROUTES: Routes = {
    **contacts.ROUTES,
    **tags.ROUTES,
    **ways.ROUTES,
    **messages.ROUTES,
    **groups.ROUTES,
    **transfers.ROUTES,
}


class FakeWeCom:
    """State, limits, faults and callbacks of one fake corp."""

    def __init__(
        self,
        config: FakeConfig,
        clock: AdvanceableClock,
        callback_http: CallbackHttp | None = None,
    ) -> None:
        self.config = config
        self.state = FakeState(config, clock)
        self.dispatcher = CallbackDispatcher(self.state, callback_http)
        self.limits = FakeLimits(config)
        self.faults = Faults(config.seed)
        self._hints = 0
        self._hint_lock = threading.Lock()

    def hint(self) -> str:
        with self._hint_lock:
            self._hints += 1
            return f"{self.state.now_int()}_{self._hints}_{self.state.rng.getrandbits(32):08x}"

    def tick(self) -> None:
        """Run what is due on the fake clock, then deliver due callbacks."""
        with self.state.lock:
            transfers.complete_due(self.state)
            messages.auto_confirm(self.state)
        self.dispatcher.flush()

    def issue_token(self, corpid: str | None, secret: str | None) -> dict[str, Any]:
        if not corpid:
            raise WeComFault(41002)
        if not secret:
            raise WeComFault(41004)
        if corpid != self.config.corp_id:
            raise WeComFault(40013)
        if secret not in self.config.secrets and secret not in self.config.other_app_secrets:
            raise WeComFault(40001)
        state, now = self.state, self.state.now()
        with state.lock:
            current = state.tokens.get(state.token_by_secret.get(secret, ""))
            if current is None or current.revoked or current.expires_at <= now:
                current = IssuedToken(state.new_id("", 96), secret, now + self.config.token_ttl)
                state.tokens[current.value] = current
                state.token_by_secret[secret] = current.value
        return {"access_token": current.value, "expires_in": int(current.expires_at - now)}

    def check_token(self, api: str, value: str | None) -> str:
        """Return the app (secret) a token belongs to, or raise 41001 / 40014 / 42001 / 48002."""
        if not value:
            raise WeComFault(41001)
        token = self.state.tokens.get(value)
        if token is None or token.revoked:
            raise WeComFault(40014)
        if token.expires_at <= self.state.now():
            raise WeComFault(42001)
        if api.startswith("externalcontact/") and token.secret not in self.config.secrets:
            raise WeComFault(48002)
        return token.secret

    def call(self, api: str, method: str, query: dict[str, str], raw: bytes, ip: str) -> Any:
        """Answer one ``/cgi-bin/`` request: a JSON body or an HTTP error response."""
        fault = self.faults.take(api)
        if fault is not None and fault.kind == "busy":
            raise WeComFault(-1)
        if fault is not None and fault.kind == "http":
            return Response(status_code=fault.status, content=b"fault injected")
        if self.config.trusted_ips and ip not in self.config.trusted_ips:
            raise WeComFault(60020)
        if self.limits.over(api, ip, self.state.now()):
            raise WeComFault(45009)
        if api == "gettoken":
            return self.issue_token(query.get("corpid"), query.get("corpsecret"))
        route = ROUTES.get(api)
        if route is None:
            return JSONResponse({"detail": f"no such API: {api}"}, status_code=404)
        route_method, handler = route
        secret = self.check_token(api, query.get("access_token"))
        if route_method == "POST":
            body = Body(parse_body(raw if method == "POST" else b""))
        else:
            body = Body({k: v for k, v in query.items() if k != "access_token"})
        if not self.limits.enter(api):
            raise WeComFault(45033)
        try:
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            app = f"app{self.config.secrets.index(secret)}"
            with self.state.lock:
                self.state.api_calls[api] = self.state.api_calls.get(api, 0) + 1
                return handler(Call(self.state, body, app, api))
        finally:
            self.limits.leave(api)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def fake_of(app: FastAPI) -> FakeWeCom:
    """Return the fake behind an app made by ``create_fake_app``."""
    fake: FakeWeCom = app.state.fake
    return fake


def create_fake_app(
    config: FakeConfig | None = None,
    clock: AdvanceableClock | None = None,
    *,
    callback_http: CallbackHttp | None = None,
    background: bool = False,
    state_file: Path | None = None,
) -> FastAPI:
    """Build the fake WeCom server.

    ``clock`` defaults to the real time (from ``config.start_time`` when set) and can be moved
    with ``POST /_fake/time/advance``. ``callback_http`` delivers callbacks (tests pass a client
    bound to their receiver). ``background`` runs a ticker thread (standalone server) so
    transfers complete and callbacks are retried without incoming requests. ``state_file``
    keeps the corp's data across restarts: read at start when it exists, written every few
    seconds by the ticker and at shutdown.
    """
    from siyu.channels.wecom.fake.control import router as control_router

    config = config or FakeConfig()
    fake = FakeWeCom(config, clock or OffsetClock(start=config.start_time), callback_http)
    if state_file is not None and state_file.exists():
        fake.state.load(state_file)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ticker = None
        if background:

            def run() -> None:
                beats = 0
                while not stop.wait(0.5):
                    fake.tick()
                    beats += 1
                    if state_file is not None and beats % 10 == 0:
                        fake.state.save(state_file)

            ticker = threading.Thread(target=run, name="fake-wecom-ticker", daemon=True)
            ticker.start()
        yield
        stop.set()
        if ticker is not None:
            ticker.join(timeout=5)
        if state_file is not None:
            fake.state.save(state_file)
        fake.dispatcher.close()

    app = FastAPI(title="fake WeCom", lifespan=lifespan, openapi_url="/_fake/openapi.json")
    app.state.fake = fake
    app.include_router(control_router)

    @app.api_route("/cgi-bin/{api:path}", methods=["GET", "POST"], include_in_schema=False)
    def cgi(api: str, request: Request, raw: Annotated[bytes, Depends(_raw_body)]) -> Response:
        ip = request.client.host if request.client else "127.0.0.1"
        fake.tick()
        try:
            answer = fake.call(api, request.method, dict(request.query_params), raw, ip)
            if isinstance(answer, Response):
                return answer
            body: dict[str, Any] = {"errcode": 0, "errmsg": "ok", **answer}
        except WeComFault as fault:
            text = errmsg(fault.errcode, hint=fake.hint(), ip=ip, note=fault.note)
            body = {"errcode": fault.errcode, "errmsg": text}
        finally:
            fake.dispatcher.flush()
        return JSONResponse(body)

    return app
