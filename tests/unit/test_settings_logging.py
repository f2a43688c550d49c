from __future__ import annotations

import pytest
from pydantic import SecretStr

from siyu.config import Environment, PiiSettings, Settings
from siyu.core.errors import ConfigurationError
from siyu.core.logging import redact
from siyu.security.pii import generate_key


def test_production_refuses_placeholder_secrets(tmp_path) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings(env=Environment.PRODUCTION, home=tmp_path).check_secrets()
    assert "SIYU_SECRET_KEY" in info.value.detail
    assert "generate-keys" in (info.value.hint or "")
    Settings(
        env=Environment.PRODUCTION,
        home=tmp_path,
        secret_key=SecretStr(generate_key()),
        pii=PiiSettings(
            keys={"k1": SecretStr(generate_key())}, blind_index_key=SecretStr(generate_key())
        ),
    ).check_secrets()


def test_default_database_is_embedded_sqlite(tmp_path) -> None:
    s = Settings(home=tmp_path)
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'siyu.db'}"
    assert Settings(home=tmp_path, database_url="postgresql://x/y").is_sqlite is False


def test_redaction() -> None:
    line = "call 13812341234 with token sy_abcdefghijklmnop now"
    assert redact(line) == "call 138****1234 with token sy_*** now"
    assert redact("order 2026013812341234567") == "order 2026013812341234567"
