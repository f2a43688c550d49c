"""Welcome messages: validated when a code is saved, rendered with variables when sent."""

from __future__ import annotations

import pytest

from siyu.acquisition import service
from siyu.core.db import unit_of_work
from siyu.core.errors import InvalidInput
from tests.integration.acquisition.conftest import Shop

WELCOME = {
    "text": "{customer_name}您好，我是{staff_name}，回复 {{1}} 领券",
    "attachments": [
        {"msgtype": "image", "pic_url": "https://cdn.example.com/coupon.png"},
        {
            "msgtype": "link",
            "title": "{customer_name}的专属礼包",
            "url": "https://shop.example.com/gift",
            "desc": "由{staff_name}为您准备",
        },
        {
            "msgtype": "miniprogram",
            "title": "会员中心",
            "pic_media_id": "MEDIA_1",
            "appid": "wx1234567890",
            "page": "pages/member/index",
        },
    ],
}


def test_render_substitutes_variables_in_text_and_titles(shop: Shop) -> None:
    code = shop.create(name="Welcome", welcome=WELCOME)
    with unit_of_work(shop.admin) as db:
        stored = service.get_code(db, shop.admin, code.id)
        rendered = service.render_welcome(stored, customer_name="王小明", staff_name="导购小李")
    assert rendered["text"] == "王小明您好，我是导购小李，回复 {1} 领券"
    assert rendered["attachments"] == [
        {"msgtype": "image", "image": {"pic_url": "https://cdn.example.com/coupon.png"}},
        {
            "msgtype": "link",
            "link": {
                "title": "王小明的专属礼包",
                "url": "https://shop.example.com/gift",
                "desc": "由导购小李为您准备",
            },
        },
        {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": "会员中心",
                "pic_media_id": "MEDIA_1",
                "appid": "wx1234567890",
                "page": "pages/member/index",
            },
        },
    ]
    # the stored template is unchanged
    assert code.welcome["text"] == WELCOME["text"]


def test_no_welcome_renders_empty(shop: Shop) -> None:
    code = shop.create(name="Silent", welcome={"text": "   "})
    assert code.welcome == {}
    with unit_of_work(shop.admin) as db:
        stored = service.get_code(db, shop.admin, code.id)
        assert service.render_welcome(stored, customer_name="A", staff_name="B") == {
            "text": None,
            "attachments": [],
        }


def test_long_names_are_cut_to_wecom_limits(shop: Shop) -> None:
    code = shop.create(
        name="Long",
        welcome={
            "attachments": [{"msgtype": "link", "title": "{customer_name}", "url": "https://x.cn"}]
        },
    )
    with unit_of_work(shop.admin) as db:
        stored = service.get_code(db, shop.admin, code.id)
        rendered = service.render_welcome(stored, customer_name="长" * 100, staff_name="B")
    assert len(rendered["attachments"][0]["link"]["title"].encode()) <= 128


@pytest.mark.parametrize(
    ("welcome", "field", "reason"),
    [
        ({"text": "Hi {name}"}, "welcome.text", "unknown variable {name}"),
        ({"text": "{customer_name!r}"}, "welcome.text", "unknown variable {customer_name!r}"),
        ({"text": "x" * 4001}, "welcome.text", "longer than 4000 bytes"),
        (
            {"attachments": [{"msgtype": "link", "title": "{shop}", "url": "https://x.cn"}]},
            "welcome.attachments.0.title",
            "unknown variable {shop}",
        ),
        ({"attachments": [{"msgtype": "image"}]}, "welcome.attachments.0", "pic_url or media_id"),
        (
            {"attachments": [{"msgtype": "image", "pic_url": "https://x.cn/a.png"}] * 10},
            "welcome.attachments",
            "more than 9",
        ),
    ],
)
def test_bad_welcomes_are_refused_at_save_time(
    shop: Shop, welcome: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        shop.create(name="Bad welcome", welcome=welcome)
    assert any(e.field == field and reason in e.reason for e in raised.value.errors)
    assert "{customer_name}" in (raised.value.hint or "")
    assert shop.corp.fake.state.contact_ways == {}
