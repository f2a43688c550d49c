"""FastAPI dependencies: the bearer token becomes an ``Actor``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from siyu.core.actor import Actor
from siyu.core.db import system_unit_of_work
from siyu.core.errors import AuthenticationFailed
from siyu.security import service

_bearer = HTTPBearer(auto_error=False, description="An API token or a session token (sy_…)")


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationFailed(
            "missing bearer token",
            hint="send `Authorization: Bearer sy_…`; create a token with POST /api/v1/auth/login "
            "or in the console under API tokens",
        )
    actor = service.cached_actor(credentials.credentials)
    if actor is None:
        with system_unit_of_work(reason="authenticate bearer token") as db:
            actor, _ = service.resolve_token(db, credentials.credentials)
    request.state.actor = actor
    return actor


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise AuthenticationFailed("missing bearer token", hint="send `Authorization: Bearer sy_…`")
    return credentials.credentials


CurrentActor = Annotated[Actor, Depends(current_actor)]
BearerToken = Annotated[str, Depends(bearer_token)]
