"""POST /events: batches, idempotency, identity resolution, per-event rejection."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import auth, make_world


def _event(key: str, **extra):
    return {
        "type": "page.viewed",
        "idempotency_key": key,
        "occurred_at": "2026-11-01T10:00:00+08:00",
        **extra,
    }


def test_batch_ingest_is_idempotent_and_resolves_people(client: TestClient) -> None:
    w = make_world("ev")
    h = auth(w.users["admin"])
    batch = {
        "events": [
            _event("e1", customer_id=str(w.customers["c1"]), data={"page": "/beans"}),
            _event("e2", keys=[{"kind": "unionid", "value": "oNew-1"}]),
            _event("e3", keys=[{"kind": "unionid", "value": "oNew-1"}]),
            _event("e4", keys=[{"kind": "phone", "value": w.phones["c2"]}]),
            _event("e5", type="Bad Type"),
            _event("e6", keys=[{"kind": "openid", "value": "o1"}]),
        ]
    }
    r = client.post("/api/v1/events", headers=h, json=batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 4
    assert body["duplicates"] == 0
    assert [(x["index"], x["idempotency_key"]) for x in body["rejected"]] == [(4, "e5"), (5, "e6")]
    assert "namespace" in body["rejected"][1]["reason"]
    again = client.post("/api/v1/events", headers=h, json=batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)
    timeline = client.get(f"/api/v1/customers/{w.customers['c1']}/events", headers=h).json()
    assert [e["data"] for e in timeline if e["type"] == "page.viewed"] == [{"page": "/beans"}]
    # e2 and e3 name the same new person: one new customer, two events
    found = client.post(
        "/api/v1/identify", headers=h, json={"keys": [{"kind": "unionid", "value": "oNew-1"}]}
    ).json()
    assert found["created"] is False
    events = client.get(f"/api/v1/customers/{found['customer_id']}/events", headers=h).json()
    assert sum(e["type"] == "page.viewed" for e in events) == 2


def test_batch_limits_and_foreign_customers(client: TestClient) -> None:
    a = make_world("eva", phone_seed=11)
    b = make_world("evb", phone_seed=12)
    h = auth(a.users["admin"])
    too_many = {"events": [_event(f"k{i}") for i in range(1001)]}
    r = client.post("/api/v1/events", headers=h, json=too_many)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "events"
    foreign = client.post(
        "/api/v1/events",
        headers=h,
        json={"events": [_event("x", customer_id=str(b.customers["c1"]))]},
    ).json()
    assert foreign["accepted"] == 0
    assert "not found" in foreign["rejected"][0]["reason"]
    naive = client.post(
        "/api/v1/events",
        headers=h,
        json={"events": [_event("n", occurred_at="2026-11-01T10:00:00")]},
    )
    assert naive.status_code == 422


def test_identify_merges_and_undo_via_api(client: TestClient) -> None:
    w = make_world("idapi")
    h = auth(w.users["admin"])
    first = client.post(
        "/api/v1/identify",
        headers=h,
        json={"keys": [{"kind": "phone", "value": w.phones["c2"]}], "source": "tmall"},
    ).json()
    assert first["created"] is False
    assert first["customer_id"] == str(w.customers["c2"])
    other = client.post(
        "/api/v1/identify",
        headers=h,
        json={"keys": [{"kind": "unionid", "value": "oU-9"}], "profile": {"name": "周杰"}},
    ).json()
    assert other["created"] is True
    bridge = client.post(
        "/api/v1/identify",
        headers=h,
        json={
            "keys": [
                {"kind": "unionid", "value": "oU-9"},
                {"kind": "phone", "value": w.phones["c2"]},
            ]
        },
    ).json()
    assert bridge["merged_ids"] == [other["customer_id"]]
    merges = client.get(f"/api/v1/customers/{w.customers['c2']}/merges", headers=h).json()
    assert merges[0]["evidence"]["keys"] == ["unionid"]
    gone = client.get(f"/api/v1/customers/{other['customer_id']}", headers=h)
    assert gone.status_code == 404
    assert str(w.customers["c2"]) in gone.json()["detail"]
    ids = client.get(f"/api/v1/customers/{w.customers['c2']}/identities", headers=h).json()
    assert {i["kind"] for i in ids} == {"phone", "email", "unionid"}
    as_guide = client.get(
        f"/api/v1/customers/{w.customers['c2']}/identities", headers=auth(w.users["guide2"])
    ).json()
    assert any("****" in i["value"] for i in as_guide if i["kind"] == "phone"), as_guide
    undone = client.post(f"/api/v1/merges/{merges[0]['id']}/undo", headers=h)
    assert undone.status_code == 200
    assert undone.json()["undone_at"]
    assert client.get(f"/api/v1/customers/{other['customer_id']}", headers=h).status_code == 200
    twice = client.post(f"/api/v1/merges/{merges[0]['id']}/undo", headers=h)
    assert twice.status_code == 409
    junk = client.post(
        "/api/v1/identify", headers=h, json={"keys": [{"kind": "phone", "value": "13800138000"}]}
    ).json()
    assert junk["junk_keys"] == ["phone"]
    listed = client.get("/api/v1/junk-keys", headers=h).json()
    phone_junk = [j for j in listed if j["kind"] == "phone"]
    assert phone_junk[0]["hit_count"] == 2  # flagged by the fixture, seen again here
    assert phone_junk[0]["value"] == "13800138000"  # admins read PII


def test_batch_resolves_keys_through_oneid_as_one_by_one(client: TestClient) -> None:
    """New people, new keys of known people and keys bridging two customers, in one batch."""
    w = make_world("evid", phone_seed=21)
    h = auth(w.users["admin"])

    def by(key: str, source: str, *keys: tuple[str, str]):
        people = [{"kind": k, "value": v} for k, v in keys]
        return _event(key, source=source, keys=people, data={"ref": key})

    batch = {
        "events": [
            by("n1", "web", ("unionid", "oNew-7")),
            by("n2", "wecom", ("unionid", "oNew-7")),  # the same new person, another source
            by("j1", "mini_program", ("phone", w.phones["c2"]), ("unionid", "oJoin-2")),
            by("j2", "web", ("unionid", "oJoin-2")),  # the key c2 just gained
            by("m1", "web", ("phone", w.phones["c1"]), ("email", "c3@example.com")),  # c1 and c3
        ]
    }
    body = client.post("/api/v1/events", headers=h, json=batch).json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (5, 0, [])

    def identify(kind: str, value: str) -> str:
        found = client.post(
            "/api/v1/identify", headers=h, json={"keys": [{"kind": kind, "value": value}]}
        ).json()
        assert found["created"] is False
        return str(found["customer_id"])

    new = identify("unionid", "oNew-7")
    identities = client.get(f"/api/v1/customers/{new}/identities", headers=h).json()
    assert [(i["kind"], i["source"]) for i in identities] == [("unionid", "web")]
    assert identify("unionid", "oJoin-2") == str(w.customers["c2"])
    survivor = identify("email", "c3@example.com")
    assert survivor == identify("phone", w.phones["c1"])
    merges = client.get(f"/api/v1/customers/{survivor}/merges", headers=h).json()
    assert len(merges) == 2  # the fixture's own merge, and c1 with c3
    timeline = {cid: _refs(client, h, cid) for cid in (new, str(w.customers["c2"]), survivor)}
    assert timeline[new] == {"n1", "n2"}
    assert timeline[str(w.customers["c2"])] == {"j1", "j2"}
    assert timeline[survivor] == {"m1"}


def _refs(client: TestClient, headers: dict[str, str], customer_id: str) -> set[str]:
    events = client.get(f"/api/v1/customers/{customer_id}/events", headers=headers).json()
    return {e["data"]["ref"] for e in events if e["type"] == "page.viewed"}
