"""A tenant with staff, a WeCom account on the fake WeCom (in-process) and synced customers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.channels import service as channels
from siyu.core.db import Database
from tests.factories import make_world
from tests.integration.transfers.corp import FAKE_URL, LABELS, Corp, Shop, make_account, make_corp


@pytest.fixture
def corp(client: TestClient) -> Iterator[Corp]:
    """The fake WeCom, called through ``register_http``; it calls siyu's callback endpoint."""
    members = [f"{slug}_{label}" for slug in ("tr", "tr2") for label in LABELS]
    corp, wire = make_corp(members, client)
    channels.register_http(FAKE_URL, wire)
    try:
        yield corp
    finally:
        channels.unregister_http(FAKE_URL)


@pytest.fixture
def shop(database: Database, corp: Corp) -> Shop:
    world = make_world("tr", phone_seed=31)
    account_id = make_account(world.admin)
    corp.fake.config.callback_url = f"http://testserver{channels.callback_path(account_id)}"
    return Shop(world=world, admin=world.admin, account_id=account_id, corp=corp)
