"""Receiving WeCom callbacks over HTTP (spec §6.1): URL verification and event POSTs.

``verify_url`` and ``open_event`` are framework-free; ``create_callback_router`` serves them on
FastAPI. The GET answers the bare decrypted ``echostr`` (no quotes, BOM or newline). A POST whose
signature, ciphertext or receiveid is wrong is logged and answered 400 without processing; a valid
one is parsed into a typed event and handed to ``on_event`` (run in the thread pool, so it may
block) before the empty 200.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.errors import CallbackRejected
from siyu.channels.wecom.events import CallbackEvent, parse_event

log = structlog.get_logger(__name__)
_QUERY = ("msg_signature", "timestamp", "nonce")


def _query(params: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise CallbackRejected(-40001, f"callback query lacks {', '.join(missing)}")
    return [params[n] for n in names]


def verify_url(crypto: WeComCrypto, params: Mapping[str, str]) -> str:
    """Answer a URL-verification GET: check the signature and return the plaintext echostr."""
    signature, timestamp, nonce, echostr = _query(params, (*_QUERY, "echostr"))
    return crypto.verify_url(signature, timestamp, nonce, echostr)


def open_event(crypto: WeComCrypto, params: Mapping[str, str], body: bytes) -> CallbackEvent:
    """Check, decrypt and parse an event POST."""
    signature, timestamp, nonce = _query(params, _QUERY)
    return parse_event(crypto.decrypt_message(body, signature, timestamp, nonce))


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def create_callback_router(
    resolve_crypto: Callable[[Request], WeComCrypto],
    on_event: Callable[[CallbackEvent], None],
    *,
    path: str = "/wecom/callback",
) -> APIRouter:
    """Return a router serving GET (verification) and POST (events) at ``path``."""
    router = APIRouter(tags=["wecom"])

    @router.get(path, response_class=PlainTextResponse, include_in_schema=False)
    def verify(request: Request) -> Response:
        try:
            plain = verify_url(resolve_crypto(request), request.query_params)
        except CallbackRejected as exc:
            log.warning("wecom_callback_rejected", kind="verify", local_code=exc.local_code)
            return Response(status_code=400)
        return Response(content=plain.encode(), media_type="text/plain")

    @router.post(path, include_in_schema=False)
    def receive(request: Request, body: Annotated[bytes, Depends(_raw_body)]) -> Response:
        try:
            event = open_event(resolve_crypto(request), request.query_params, body)
        except CallbackRejected as exc:
            log.warning("wecom_callback_rejected", kind="event", local_code=exc.local_code)
            return Response(status_code=400)
        log.info("wecom_callback_received", wecom_event=event.event, change_type=event.change_type)
        on_event(event)
        return Response(status_code=200)

    return router
