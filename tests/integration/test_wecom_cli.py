"""``siyu fake-wecom`` and the fake over real sockets: a client pointed at 127.0.0.1 just works."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from siyu.channels.wecom import errors as e
from siyu.channels.wecom.callbacks import create_callback_router
from siyu.channels.wecom.client import RetryPolicy, TokenCache, WeComClient
from siyu.channels.wecom.crypto import WeComCrypto
from siyu.channels.wecom.events import CallbackEvent, ExternalContactAdded
from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    QuotaRule,
    TransferRule,
)
from siyu.cli.main import app as cli
from siyu.cli.wecom import build_config, describe


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """Serve ``app`` with uvicorn on a free local port in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_help_lists_the_documented_options() -> None:
    result = CliRunner().invoke(cli, ["fake-wecom", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--corp-id", "--secret", "--callback-url", "--callback-token",
                   "--callback-aes-key"):  # fmt: skip
        assert option in result.output


def test_unset_options_fall_back_to_printed_defaults() -> None:
    config = build_config(
        corp_id=DEFAULT_CORP_ID,
        secrets=[],
        callback_url=None,
        callback_token=DEFAULT_CALLBACK_TOKEN,
        callback_aes_key=DEFAULT_CALLBACK_AES_KEY,
        token_ttl=7200,
        auto_confirm_delay=None,
        members=[],
        quota_rule=QuotaRule.MONTH_DAYS,
        transfer_rule=TransferRule.WINDOW_90_MAX_2,
        seed=0,
    )
    printed = dict(describe(config, "127.0.0.1", 8900))
    assert printed["corp id"] == DEFAULT_CORP_ID
    assert printed["secrets (valid for every app)"] == config.secrets[0]
    assert printed["callback EncodingAESKey"] == DEFAULT_CALLBACK_AES_KEY
    assert printed["callback Token"] == DEFAULT_CALLBACK_TOKEN


def test_real_sockets_client_callbacks_and_timeouts() -> None:
    received: list[CallbackEvent] = []
    crypto = WeComCrypto(DEFAULT_CALLBACK_TOKEN, DEFAULT_CALLBACK_AES_KEY, DEFAULT_CORP_ID)
    receiver = FastAPI()
    receiver.include_router(create_callback_router(lambda _: crypto, received.append))
    config = build_config(
        corp_id=DEFAULT_CORP_ID,
        secrets=["secret-a", "secret-b"],
        callback_url=None,
        callback_token=DEFAULT_CALLBACK_TOKEN,
        callback_aes_key=DEFAULT_CALLBACK_AES_KEY,
        token_ttl=7200,
        auto_confirm_delay=None,
        members=["zhangsan"],
        quota_rule=QuotaRule.MONTH_DAYS,
        transfer_rule=TransferRule.WINDOW_90_MAX_2,
        seed=3,
    )
    with ExitStack() as stack, serving(receiver) as receiver_port:
        config.callback_url = f"http://127.0.0.1:{receiver_port}/wecom/callback"
        with serving(create_fake_app(config, background=True)) as port:
            base = f"http://127.0.0.1:{port}"
            tokens = TokenCache()
            client = WeComClient(DEFAULT_CORP_ID, "secret-b", base_url=base, tokens=tokens)
            stack.callback(client.close)
            assert client.get_follow_user_list() == ["zhangsan"]
            way = client.add_contact_way(type=1, scene=2, state="shop-7", user=["zhangsan"])
            control = stack.enter_context(httpx.Client(base_url=base))
            control.post(f"/_fake/contact_ways/{way.config_id}/scan", json={}).raise_for_status()
            (event,) = received
            assert isinstance(event, ExternalContactAdded)
            assert event.state == "shop-7"
            assert event.welcome_code
            client.send_welcome_msg(event.welcome_code, text="hi")
            policy = RetryPolicy(timeout=0.5, backoff_base=0.01)
            hasty = WeComClient(
                DEFAULT_CORP_ID, "secret-b", base_url=base, tokens=tokens, retry=policy
            )
            stack.callback(hasty.close)
            fault = {"kind": "delay", "delay": 1.5, "api": "externalcontact/add_msg_template"}
            control.post("/_fake/faults", json=fault).raise_for_status()
            with pytest.raises(e.WeComTransportError) as timed_out:
                hasty.add_msg_template(sender="zhangsan", text="not retried: may have been sent")
            assert timed_out.value.sent
            fault = {"kind": "delay", "delay": 1.5, "api": "externalcontact/get_follow_user_list"}
            control.post("/_fake/faults", json=fault).raise_for_status()
            assert hasty.get_follow_user_list() == ["zhangsan"]  # idempotent: retried
