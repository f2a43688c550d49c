"""Configuration of the fake WeCom server; every default is a documented WeCom figure or a
marked [U] decision of spec §9."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

DEFAULT_CORP_ID = "wwfake00000000000001"
DEFAULT_SECRET = "fake-customer-contact-secret"  # noqa: S105 - a fake server's public default
DEFAULT_CALLBACK_TOKEN = "faketoken"  # noqa: S105 - a fake server's public default
DEFAULT_CALLBACK_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # spec §8 Set B


class QuotaRule(StrEnum):
    """Receiving quota per customer / group (spec §4)."""

    MONTH_DAYS = "month_days"  # N per calendar month, N = days in the month (current doc)
    WEEK_7 = "week_7"
    DAY_1 = "day_1"
    LEGACY_MONTH_4 = "legacy_month_4"  # 4 enterprise messages per calendar month


class TransferRule(StrEnum):
    """The on-job transfer frequency reading of spec §3.7."""

    WINDOW_90_MAX_2 = "window_90_max_2"  # a 3rd transfer within 90 days → 40128 (default)
    WINDOW_90_MAX_1 = "window_90_max_1"  # a 2nd transfer within 90 days → 40128
    LIFETIME_2 = "lifetime_2"  # a 3rd transfer ever → 40128


class FakeConfig(BaseModel):
    """Everything the fake can be told; tests scale limits and delays down."""

    corp_id: str = DEFAULT_CORP_ID
    secrets: list[str] = Field(default_factory=lambda: [DEFAULT_SECRET])
    # apps whose secret works for gettoken but that may not call externalcontact/* (48002)
    other_app_secrets: list[str] = Field(default_factory=list)
    token_ttl: int = 7200
    per_minute: int = 10_000
    per_hour: int = 150_000
    ip_per_minute: int = 20_000
    ip_per_hour: int = 600_000
    concurrency: dict[str, int] = Field(
        default_factory=lambda: {"externalcontact/remark": 5, "externalcontact/mark_tag": 5}
    )
    trusted_ips: list[str] = Field(default_factory=list)  # empty: every IP is trusted
    callback_url: str | None = None
    callback_token: str = DEFAULT_CALLBACK_TOKEN
    callback_aes_key: str = DEFAULT_CALLBACK_AES_KEY
    callback_agent_id: int = 1000001
    callback_timeout: float = 5.0
    callback_retry_delays: list[float] = Field(default_factory=lambda: [5.0, 10.0, 20.0])
    welcome_code_ttl: int = 20
    dispatch_window: int = 2  # seconds after add_msg_template during which queries get 41063
    auto_confirm_delay: float | None = None  # members confirm mass tasks after this many s
    quota_rule: QuotaRule = QuotaRule.MONTH_DAYS
    timezone: str = "Asia/Shanghai"
    transfer_rule: TransferRule = TransferRule.WINDOW_90_MAX_2
    transfer_wait: int = 24 * 3600
    customer_cap: int = 50_000  # customers one member may hold (40099 / status 4 beyond)
    corp_tag_limit: int = 3000
    contact_way_limit: int = 500_000
    cursor_ttl: int = 600
    members: list[str] = Field(default_factory=lambda: ["zhangsan", "lisi", "wangwu"])
    seed: int = 0
    start_time: datetime | None = None  # None: the real time (standalone server)

    def transfer_window(self) -> timedelta:
        return timedelta(days=90)
