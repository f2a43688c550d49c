"""``siyu config``: show the effective settings (secrets masked), generate keys."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import SecretStr
from rich.console import Console

from siyu.config import get_settings
from siyu.security.pii import generate_key

app = typer.Typer(help="Show and generate configuration.", no_args_is_help=True)
out = Console()


def _masked(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _dump(model: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if hasattr(type(value), "model_fields"):
            result[name] = _dump(value)
        elif isinstance(value, dict):
            result[name] = {k: _masked(v) for k, v in value.items()}
        else:
            result[name] = _masked(value)
    return result


@app.command("show")
def show() -> None:
    """Print the effective settings as JSON; secrets are masked."""
    settings = get_settings()
    data = _dump(settings)
    data["effective_database_url"] = _mask_url(settings.effective_database_url)
    if data.get("database_url"):
        data["database_url"] = _mask_url(settings.effective_database_url)
    out.print_json(json.dumps(data, default=str, ensure_ascii=False))


def _mask_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("generate-keys")
def generate_keys() -> None:
    """Print fresh secrets as environment variables for a production deployment."""
    out.print(f"SIYU_SECRET_KEY={generate_key()}")
    out.print(f'SIYU_PII__KEYS={{"k1": "{generate_key()}"}}')
    out.print("SIYU_PII__ACTIVE_KEY_ID=k1")
    out.print(f"SIYU_PII__BLIND_INDEX_KEY={generate_key()}")
