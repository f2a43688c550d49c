"""The left-drawer navigation: a registry that feature pages add their entry to.

A page module adds its ``NavItem`` in its ``register()``; the drawer shows the entries whose
permission the actor holds, in ``order``. Only pages that exist get an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.core.actor import Actor
from siyu.security.rbac import Perm, has


@dataclass(frozen=True)
class NavItem:
    key: str
    """Translation key of the label, e.g. ``nav.customers``."""
    path: str
    icon: str
    """A Material icon name."""
    permission: Perm | None = None
    """Shown only to actors holding it; ``None``: everyone signed in."""
    order: int = 100


NAV: list[NavItem] = []


def add(item: NavItem) -> None:
    """Add (or replace, by path) a navigation entry."""
    NAV[:] = [i for i in NAV if i.path != item.path]
    NAV.append(item)
    NAV.sort(key=lambda i: (i.order, i.path))


def visible_to(actor: Actor) -> list[NavItem]:
    return [i for i in NAV if i.permission is None or has(actor, i.permission)]


def active_item(path: str) -> NavItem | None:
    """Return the entry a page path belongs to (the longest matching prefix)."""
    matches = [
        i for i in NAV if path == i.path or (i.path != "/" and path.startswith(i.path + "/"))
    ]
    return max(matches, key=lambda i: len(i.path), default=None)
