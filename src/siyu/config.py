"""Settings: one object, read from the environment (prefix ``SIYU_``) and passed down."""

from __future__ import annotations

import base64
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only keys. Start-up refuses them outside ``env=dev`` (see ``check_secrets``).
DEV_SECRET_KEY = "dev-secret-key-change-me"  # noqa: S105 - refused outside dev/test
DEV_PII_KEY = base64.urlsafe_b64encode(b"siyu-dev-pii-key-32-bytes-long!!").decode()
DEV_BLIND_INDEX_KEY = base64.urlsafe_b64encode(b"siyu-dev-blind-index-key-32byte!").decode()


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class PiiSettings(BaseModel):
    """Keys for PII at rest.

    ``keys`` maps a key id to a urlsafe-base64 32-byte AES key; ``active_key_id`` encrypts new
    values, every listed key decrypts, so keys rotate by adding a new id and re-encrypting.
    """

    keys: dict[str, SecretStr] = Field(default_factory=lambda: {"k1": SecretStr(DEV_PII_KEY)})
    active_key_id: str = "k1"
    blind_index_key: SecretStr = SecretStr(DEV_BLIND_INDEX_KEY)

    @model_validator(mode="after")
    def _active_key_exists(self) -> PiiSettings:
        if self.active_key_id not in self.keys:
            raise ValueError(
                f"pii.active_key_id {self.active_key_id!r} is not among pii.keys "
                f"({', '.join(sorted(self.keys))}); add the key or pick an existing id"
            )
        return self


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None


class JobsSettings(BaseModel):
    """Background jobs (huey).

    The queue lives in Redis when ``redis_url`` is set, else in ``jobs.db`` under ``home``.
    ``embedded`` runs workers inside ``siyu serve``/``siyu demo`` (one machine, no separate
    ``siyu worker``); ``immediate`` runs every job at once in the caller (tests).
    """

    immediate: bool = False
    embedded: bool = True
    workers: int = Field(default=2, ge=1, le=64)


class Settings(BaseSettings):
    """Everything configurable, from ``SIYU_*`` variables (nested with ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="SIYU_", env_nested_delimiter="__", extra="ignore", env_file=None
    )

    env: Environment = Environment.DEV
    home: Path = Field(default_factory=lambda: Path.home() / ".siyu")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    default_timezone: str = "Asia/Shanghai"
    default_locale: str = "zh"
    session_hours: int = 12
    log_json: bool = False
    pii: PiiSettings = Field(default_factory=PiiSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)

    @property
    def effective_database_url(self) -> str:
        """Return the configured database URL, or the embedded SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'siyu.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def check_secrets(self) -> None:
        """Refuse the built-in development keys outside development and tests."""
        if self.env in (Environment.DEV, Environment.TEST):
            return
        placeholders = []
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            placeholders.append("SIYU_SECRET_KEY")
        if any(k.get_secret_value() == DEV_PII_KEY for k in self.pii.keys.values()):
            placeholders.append("SIYU_PII__KEYS")
        if self.pii.blind_index_key.get_secret_value() == DEV_BLIND_INDEX_KEY:
            placeholders.append("SIYU_PII__BLIND_INDEX_KEY")
        if placeholders:
            from siyu.core.errors import ConfigurationError

            raise ConfigurationError(
                f"development placeholder secrets in use with SIYU_ENV={self.env}: "
                + ", ".join(placeholders),
                hint="generate keys with `siyu config generate-keys` and set them in the "
                "environment",
            )


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
