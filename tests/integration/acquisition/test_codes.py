"""Channel codes against the fake WeCom: create, validate, change, disable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from siyu.acquisition import flows, service
from siyu.acquisition.models import ChannelCode
from siyu.acquisition.schemas import CodeUpdate
from siyu.core.db import unit_of_work
from siyu.core.errors import Conflict, InvalidInput, NotFound
from siyu.security.models import AuditEntry
from tests.integration.acquisition.conftest import Corp, Shop, make_shop


def test_create_makes_the_contact_way_with_state_and_members(shop: Shop) -> None:
    code = shop.create(
        name="Store 1 counter",
        state="store-001",
        staff_userids=[shop.uid("guide1"), shop.uid("guide2")],
        is_rotating=True,
        daily_cap_per_staff=30,
        skip_verify=False,
        tag_ids=["et_vip", "et_vip", "et_new"],
    )
    way = shop.corp.way(code.config_id)
    assert way is not None
    assert way.state == "store-001"
    assert way.user == [shop.uid("guide1"), shop.uid("guide2")]
    assert way.type == 2
    assert way.scene == 2
    assert way.remark == "Store 1 counter"
    assert way.skip_verify is False
    assert code.qr_code == way.qr_code
    assert code.tag_ids == ["et_vip", "et_new"]
    assert code.is_active
    with unit_of_work(shop.admin) as db:
        stored = service.code_for_state(db, shop.admin, "store-001")
        assert stored is not None
        assert stored.id == code.id
        assert service.code_for_state(db, shop.admin, "nothing") is None
        assert service.code_for_state(db, shop.admin, None) is None
        audit = db.scalars(select(AuditEntry.action).where(AuditEntry.subject_id == code.id))
        assert list(audit) == ["channel_code.create"]


def test_state_is_generated_short_and_unique(shop: Shop) -> None:
    first = shop.create(name="A")
    second = shop.create(name="B")
    assert first.state.startswith("c_")
    assert len(first.state) <= 30
    assert first.state != second.state
    assert shop.corp.way(first.config_id).state == first.state  # type: ignore[union-attr]


@pytest.mark.parametrize("state", ["x" * 31, "has space", "", "引号'"])
def test_bad_state_is_refused_before_wecom(shop: Shop, state: str) -> None:
    with pytest.raises(InvalidInput, match="state") as raised:
        shop.create(name="Bad", state=state)
    assert "30" in (raised.value.hint or "")
    assert shop.corp.fake.state.contact_ways == {}


def test_taken_state_and_name_conflict(shop: Shop) -> None:
    shop.create(name="Poster", state="poster-1")
    with pytest.raises(Conflict, match="state 'poster-1'"):
        shop.create(name="Other", state="poster-1")
    with pytest.raises(Conflict, match="named 'Poster'"):
        shop.create(name="Poster", state="poster-2")
    assert len(shop.corp.fake.state.contact_ways) == 1


def test_unknown_staff_are_named(shop: Shop) -> None:
    with pytest.raises(InvalidInput) as raised:
        shop.create(
            name="Unknown",
            staff_userids=[shop.uid("guide1"), "ghost", "nobody"],
            is_rotating=True,
        )
    assert "'ghost'" in raised.value.detail
    assert "'nobody'" in raised.value.detail
    assert shop.uid("guide1") not in raised.value.detail
    assert [e.value for e in raised.value.errors] == ["ghost", "nobody"]
    assert shop.corp.fake.state.contact_ways == {}


def test_several_staff_need_rotation_and_a_cap_needs_rotation(shop: Shop) -> None:
    with pytest.raises(InvalidInput, match="rotation is off"):
        shop.create(name="Two", staff_userids=[shop.uid("guide1"), shop.uid("guide2")])
    with pytest.raises(InvalidInput, match="needs rotation"):
        shop.create(name="Capped", daily_cap_per_staff=5)


def test_org_unit_outside_the_tenant_is_not_found(shop: Shop, corp: Corp) -> None:
    other = make_shop(corp, "acq2")
    with pytest.raises(NotFound, match="org unit"):
        shop.create(name="Foreign unit", org_unit_id=other.world.store_ids[0])


def test_wecom_refusal_becomes_a_clear_error_and_nothing_is_stored(shop: Shop) -> None:
    shop.corp.do("members", {"userid": shop.uid("guide1"), "contact_enabled": False})
    with pytest.raises(InvalidInput, match="84074") as raised:
        shop.create(name="Refused")
    assert "customer contact" in (raised.value.hint or "")
    with unit_of_work(shop.admin) as db:
        assert db.scalar(select(ChannelCode.id)) is None


def test_update_changes_members_and_remark_in_wecom(shop: Shop) -> None:
    code = shop.create(name="Poster", welcome={"text": "Hi {customer_name}"})
    updated = flows.update_code(
        shop.admin,
        code.id,
        CodeUpdate(
            name="Poster v2",
            staff_userids=[shop.uid("guide2"), shop.uid("guide3")],
            is_rotating=True,
            owner_label="Spring campaign",
        ),
    )
    way = shop.corp.way(code.config_id)
    assert way is not None
    assert way.user == [shop.uid("guide2"), shop.uid("guide3")]
    assert way.remark == "Poster v2"
    assert updated.name == "Poster v2"
    assert updated.owner_label == "Spring campaign"
    assert updated.welcome == {"text": "Hi {customer_name}", "attachments": []}
    assert updated.state == code.state


def test_update_validates_like_create(shop: Shop) -> None:
    code = shop.create(name="Poster")
    with pytest.raises(InvalidInput, match="'ghost'"):
        flows.update_code(shop.admin, code.id, CodeUpdate(staff_userids=["ghost"]))
    with pytest.raises(InvalidInput, match="rotation is off"):
        flows.update_code(
            shop.admin, code.id, CodeUpdate(staff_userids=[shop.uid("guide1"), shop.uid("guide2")])
        )
    with pytest.raises(InvalidInput, match="unknown variable"):
        flows.update_code(shop.admin, code.id, CodeUpdate(welcome={"text": "{name}"}))
    assert shop.corp.way(code.config_id).user == [shop.uid("guide1")]  # type: ignore[union-attr]


def test_disable_deletes_the_way_and_keeps_the_code(shop: Shop) -> None:
    code = shop.create(name="Poster", state="poster")
    disabled = flows.disable_code(shop.admin, code.id)
    assert not disabled.is_active
    assert shop.corp.way(code.config_id) is None
    again = flows.disable_code(shop.admin, code.id)  # idempotent
    assert not again.is_active
    with unit_of_work(shop.admin) as db:
        kept = service.code_for_state(db, shop.admin, "poster")
        assert kept is not None
        assert not kept.is_active
    with pytest.raises(Conflict, match="disabled"):
        flows.update_code(shop.admin, code.id, CodeUpdate(name="Back"))


def test_disable_tolerates_a_way_already_gone_in_wecom(shop: Shop) -> None:
    code = shop.create(name="Poster")
    shop.corp.fake.state.contact_ways.clear()
    assert not flows.disable_code(shop.admin, code.id).is_active


def test_another_tenants_code_is_not_found(shop: Shop, corp: Corp) -> None:
    code = shop.create(name="Mine")
    other = make_shop(corp, "acq2")
    with unit_of_work(other.admin) as db, pytest.raises(NotFound):
        service.get_code(db, other.admin, code.id)
    with pytest.raises(NotFound):
        flows.disable_code(other.admin, code.id)
    assert shop.corp.way(code.config_id) is not None
