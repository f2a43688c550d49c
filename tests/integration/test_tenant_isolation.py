"""Tenant isolation, generically: every API route that takes an object id answers 404 when a
user of tenant A asks for tenant B's object.

Routes are discovered from the OpenAPI document, so a new route is covered the moment it exists.
A route whose path parameter has no entry in ``OBJECTS`` fails the test: register how to make
tenant B's object of that kind (and, for a required body, a sample in ``BODIES``).

Routes authenticated by a request signature instead of a bearer token (inbound webhooks) have no
"tenant A user": the caller is whoever holds an endpoint's secret. For them tenant A's sender
signs with tenant A's own secret (``SIGNED``) and tenant B's endpoint must refuse it with 401
(the signature is checked against B's secret, so naming B's endpoint never writes into B).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import World, auth, make_world, signed
from tests.integration.acquisition.objects import code_of
from tests.integration.channels.objects import account_of, callback_of
from tests.integration.groups.objects import group_of
from tests.integration.transfers.corp import batch_of

# path parameter name -> tenant B's object id of that kind
OBJECTS: dict[str, Callable[[World], uuid.UUID | None]] = {
    "customer_id": lambda w: w.customers["c1"],
    "org_unit_id": lambda w: w.store_ids[0],
    "staff_id": lambda w: w.staff["guide1"],
    "token_id": lambda w: w.token_id,
    "order_id": lambda w: w.order_id,
    "merge_id": lambda w: w.merge_id,
    "junk_key_id": lambda w: w.junk_key_id,
    "proposal_id": lambda w: w.proposal_id,
    "endpoint_id": lambda w: w.webhook_id,
    "transfer_id": batch_of,
    "account_id": account_of,
    "callback_id": callback_of,
    "group_id": group_of,
    "code_id": code_of,
}

# operation id -> a body that passes validation, for routes whose body has required fields
BODIES: dict[str, dict[str, Any]] = {
    "update_junk_key": {"status": "cleared"},
    "update_channel_sync": {"reconcile_every_minutes": 60},
    "retry_transfer": {"receivers": ["tenant-a_guide2"]},
    "receive_order_webhook": {
        "orders": [
            {
                "external_id": "ISO-1",
                "keys": [{"kind": "member_no", "value": "ISO-M1"}],
                "paid_fen": 100,
                "paid_at": "2026-06-01T12:00:00Z",
            }
        ]
    },
}

# operation id -> the headers tenant A's sender signs a body with (routes without bearer auth)
SIGNED: dict[str, Callable[[World, bytes], dict[str, str]]] = {
    "receive_order_webhook": lambda w, body: signed(w.webhook_secret, body),
}

_PARAM = re.compile(r"{([^}]+)}")


def id_routes(app: FastAPI) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Return (method, path, operation id, operation) for every route with a path parameter."""
    spec = app.openapi()
    routes = []
    for path, item in spec["paths"].items():
        if not _PARAM.search(path):
            continue
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                routes.append((method.upper(), path, op.get("operationId", path), op))
    return routes


def _body_for(op_id: str, op: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    body = op.get("requestBody")
    if body is None:
        return None
    if op_id in BODIES:
        return BODIES[op_id]
    schema = body["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("required"):
        pytest.fail(f"{op_id}: add a valid sample body to BODIES in {__file__}")
    return {}


def test_routes_are_discovered(api_app: FastAPI) -> None:
    paths = {path for _, path, _, _ in id_routes(api_app)}
    assert "/api/v1/customers/{customer_id}" in paths
    assert len(paths) >= 5


def test_every_id_route_hides_other_tenants_objects(api_app: FastAPI, client: TestClient) -> None:
    tenant_a = make_world("tenant-a", phone_seed=1)
    tenant_b = make_world("tenant-b", phone_seed=2)
    headers = auth(tenant_a.users["admin"])
    spec = api_app.openapi()
    checked = []
    for method, path, op_id, op in id_routes(api_app):
        url = path
        for name in _PARAM.findall(path):
            if name not in OBJECTS:
                pytest.fail(
                    f"{method} {path}: no factory for path parameter {name!r}; add one to OBJECTS"
                )
            object_id = OBJECTS[name](tenant_b)
            assert object_id is not None
            url = url.replace("{" + name + "}", str(object_id))
        body = _body_for(op_id, op, spec)
        if "security" not in op:
            if op_id not in SIGNED:
                pytest.fail(f"{method} {path} takes no bearer token: say how to sign in SIGNED")
            raw = json.dumps(body).encode()
            response = client.request(
                method, url, content=raw, headers=SIGNED[op_id](tenant_a, raw)
            )
            assert response.status_code == 401, (
                f"{method} {path} signed by tenant A for tenant B's object gave "
                f"{response.status_code}: {response.text}"
            )
            assert response.headers["content-type"].startswith("application/problem+json")
            checked.append(f"{method} {path}")
            continue
        response = client.request(method, url, headers=headers, json=body)
        assert response.status_code == 404, (
            f"{method} {path} as tenant A on tenant B's object gave {response.status_code}: "
            f"{response.text}"
        )
        assert response.headers["content-type"].startswith("application/problem+json")
        checked.append(f"{method} {path}")
    assert len(checked) >= 8
    # The same objects are reachable for tenant B's own admin: the 404s were not accidents.
    own = auth(tenant_b.users["admin"])
    assert (
        client.get(f"/api/v1/customers/{tenant_b.customers['c1']}", headers=own).status_code == 200
    )
    assert client.get(f"/api/v1/orders/{tenant_b.order_id}", headers=own).status_code == 200
    hook = client.get(f"/api/v1/order-webhooks/{tenant_b.webhook_id}/deliveries", headers=own)
    assert hook.json() == []  # tenant A's signed delivery wrote nothing into tenant B
    assert (
        client.get("/api/v1/customers", params={"q": "ISO-M1"}, headers=own).json()["items"] == []
    )
