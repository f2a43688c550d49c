"""Groups tests use the sync tests' fake corp (``tests/integration/sync/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.core.db import Database
from tests.factories import make_world
from tests.integration.sync.conftest import SLUG, Corp, make_corp


@pytest.fixture
def corp(database: Database) -> Iterator[Corp]:
    """A fake corp of a tenant without logins, sending no callbacks."""
    yield from make_corp(None)


@pytest.fixture
def world_corp(client: TestClient) -> Iterator[Corp]:
    """A fake corp of a tenant with logins, for API tests."""
    yield from make_corp(client, world=make_world(SLUG))
