from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/customers/{customer_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200
