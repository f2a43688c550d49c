"""``siyu fake-wecom``: run the fake WeCom server standalone (tests, demo, local development)."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn
from rich.console import Console

from siyu.channels.wecom.fake.app import create_fake_app
from siyu.channels.wecom.fake.config import (
    DEFAULT_CALLBACK_AES_KEY,
    DEFAULT_CALLBACK_TOKEN,
    DEFAULT_CORP_ID,
    DEFAULT_SECRET,
    FakeConfig,
    QuotaRule,
    TransferRule,
)

out = Console()


def build_config(
    *,
    corp_id: str,
    secrets: list[str],
    callback_url: str | None,
    callback_token: str,
    callback_aes_key: str,
    token_ttl: int,
    auto_confirm_delay: float | None,
    members: list[str],
    quota_rule: QuotaRule,
    transfer_rule: TransferRule,
    seed: int,
) -> FakeConfig:
    """Return the fake's configuration from the command's options (unset ones use defaults)."""
    defaults = FakeConfig()
    return FakeConfig(
        corp_id=corp_id,
        secrets=secrets or [DEFAULT_SECRET],
        callback_url=callback_url,
        callback_token=callback_token,
        callback_aes_key=callback_aes_key,
        token_ttl=token_ttl,
        auto_confirm_delay=auto_confirm_delay,
        members=members or defaults.members,
        quota_rule=quota_rule,
        transfer_rule=transfer_rule,
        seed=seed,
    )


def describe(config: FakeConfig, host: str, port: int) -> list[tuple[str, str]]:
    """Return what is printed at start-up: where to point a client and with what."""
    confirm = (
        "POST /_fake/mass/{msgid}/confirm"
        if config.auto_confirm_delay is None
        else f"auto-confirmed after {config.auto_confirm_delay} s"
    )
    return [
        ("base URL (instead of https://qyapi.weixin.qq.com)", f"http://{host}:{port}"),
        ("corp id", config.corp_id),
        ("secrets (valid for every app)", ", ".join(config.secrets)),
        ("callback URL", config.callback_url or "(none: events stay queued)"),
        ("callback Token", config.callback_token),
        ("callback EncodingAESKey", config.callback_aes_key),
        ("members", ", ".join(config.members)),
        ("token lifetime (s)", str(config.token_ttl)),
        ("mass tasks", confirm),
        ("control API", f"http://{host}:{port}/_fake/ (OpenAPI docs at /docs)"),
    ]


def fake_wecom(
    port: int = typer.Option(8900, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Bind address"),
    corp_id: str = typer.Option(DEFAULT_CORP_ID, help="Corp id (corpid) the fake answers to"),
    secret: list[str] = typer.Option(
        [], help="App secret accepted by gettoken (repeatable); default printed at start"
    ),
    callback_url: str | None = typer.Option(None, help="URL that receives encrypted events"),
    callback_token: str = typer.Option(DEFAULT_CALLBACK_TOKEN, help="Callback Token"),
    callback_aes_key: str = typer.Option(
        DEFAULT_CALLBACK_AES_KEY, help="Callback EncodingAESKey (43 letters and digits)"
    ),
    token_ttl: int = typer.Option(7200, help="access_token lifetime in seconds"),
    auto_confirm_delay: float | None = typer.Option(
        None, help="Members confirm mass-message tasks after this many seconds"
    ),
    member: list[str] = typer.Option([], help="Member userid (repeatable)"),
    quota_rule: QuotaRule = typer.Option(QuotaRule.MONTH_DAYS, help="Mass-message quota rule"),
    transfer_rule: TransferRule = typer.Option(
        TransferRule.WINDOW_90_MAX_2, help="On-job transfer frequency rule"
    ),
    seed: int = typer.Option(0, help="Seed for ids and injected faults"),
    state: Path | None = typer.Option(
        None, help="Keep the corp's data in this file across restarts (default: memory only)"
    ),
) -> None:
    """Run a fake WeCom server serving the real /cgi-bin/ paths, with a /_fake/ control API."""
    config = build_config(
        corp_id=corp_id,
        secrets=secret,
        callback_url=callback_url,
        callback_token=callback_token,
        callback_aes_key=callback_aes_key,
        token_ttl=token_ttl,
        auto_confirm_delay=auto_confirm_delay,
        members=member,
        quota_rule=quota_rule,
        transfer_rule=transfer_rule,
        seed=seed,
    )
    out.print("[bold]fake WeCom[/bold]")
    for label, value in describe(config, host, port):
        out.print(f"  {label}: [bold]{value}[/bold]", soft_wrap=True, highlight=False)
    app = create_fake_app(config, background=True, state_file=state)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
