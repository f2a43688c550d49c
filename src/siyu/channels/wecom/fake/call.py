"""What every fake API handler receives, and the route table type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from siyu.channels.wecom.fake.state import FakeState
from siyu.channels.wecom.fake.wire import Body


@dataclass
class Call:
    """One authenticated call: the state (lock held), the fields, the calling app."""

    state: FakeState
    body: Body  # the JSON body of a POST, the query of a GET
    app: str  # an opaque id of the app whose token was used (binds cursors)
    api: str

    def binding(self, **filters: Any) -> dict[str, Any]:
        return {"api": self.api, "app": self.app, **filters}


Handler = Callable[[Call], dict[str, Any]]
Routes = dict[str, tuple[Literal["GET", "POST"], Handler]]
