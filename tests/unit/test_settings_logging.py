from __future__ import annotations

import pytest
import structlog
from pydantic import SecretStr

from siyu.config import Environment, PiiSettings, Settings
from siyu.core.errors import ConfigurationError
from siyu.core.logging import configure_logging, redact
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


def test_console_tracebacks_do_not_print_local_variables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A secret held in a local variable of a failing frame never reaches the log."""
    configure_logging(json=False)
    log = structlog.get_logger("test")

    def fail(corpsecret: str) -> None:
        raise RuntimeError("upstream refused")

    secret = "-".join(("s3cr3t", "app", "secret"))  # not in any source line of the traceback
    try:
        fail(secret)
    except RuntimeError:
        log.exception("call_failed")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "upstream refused" in text
    assert secret not in text
