"""Channel account configuration and its API shapes (secrets never leave in clear)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from siyu.channels.models import ChannelKind
from siyu.channels.wecom.crypto import decode_aes_key
from siyu.channels.wecom.errors import CallbackRejected
from siyu.channels.wecom.models import CallbackStatus
from siyu.channels.wecom.transport import WECOM_BASE_URL


class WeComConfig(BaseModel):
    """One WeCom app with the customer-contact (客户联系) permission, and its callback keys."""

    model_config = ConfigDict(extra="forbid")

    corp_id: str = Field(min_length=1, max_length=64)
    secret: SecretStr
    callback_token: SecretStr
    callback_aes_key: SecretStr
    base_url: str = WECOM_BASE_URL
    agent_id: int | None = None

    @field_validator("callback_aes_key")
    @classmethod
    def _aes_key_decodes(cls, value: SecretStr) -> SecretStr:
        try:
            decode_aes_key(value.get_secret_value())
        except CallbackRejected as exc:
            raise ValueError(
                "callback_aes_key must be the 43-character EncodingAESKey shown in WeCom's "
                "callback settings"
            ) from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    def to_json(self) -> dict[str, Any]:
        """Return the configuration with secrets in clear, for encrypted storage only."""
        data = self.model_dump()
        for name in ("secret", "callback_token", "callback_aes_key"):
            data[name] = getattr(self, name).get_secret_value()
        return data


class WeComConfigUpdate(BaseModel):
    """Fields to change; secrets left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    corp_id: str | None = Field(default=None, min_length=1, max_length=64)
    secret: SecretStr | None = None
    callback_token: SecretStr | None = None
    callback_aes_key: SecretStr | None = None
    base_url: str | None = None
    agent_id: int | None = None


class WeComAccountCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    config: WeComConfig


class WeComAccountUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool | None = None
    config: WeComConfigUpdate | None = None


class MaskedWeComConfig(BaseModel):
    corp_id: str
    base_url: str
    agent_id: int | None
    secret: str
    callback_token: str
    callback_aes_key: str


class ChannelAccountRead(BaseModel):
    id: uuid.UUID
    kind: ChannelKind
    name: str
    is_active: bool
    config: MaskedWeComConfig
    callback_path: str
    last_callback_at: datetime | None
    last_synced_at: datetime | None
    last_reconciled_at: datetime | None
    sync_state: dict[str, Any]
    created_at: datetime


class WeComCallbackRead(BaseModel):
    """One stored callback of the account's inbox and what processing made of it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    event: str
    change_type: str | None
    status: CallbackStatus
    attempts: int
    error: str | None = Field(description="Why it failed or was ignored")
    payload: dict[str, Any] = Field(description="The decrypted event's fields")
    received_at: datetime
    processed_at: datetime | None = Field(description="When it was last processed")
