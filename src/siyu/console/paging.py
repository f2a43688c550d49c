"""Console tables paged by the API's keyset cursors, whose rows open a detail page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from siyu.console.calls import show_error
from siyu.console.i18n import t
from siyu.core.errors import AppError

Fetch = Callable[[str | None], Awaitable[tuple[list[dict[str, Any]], str | None]]]
"""Load the page at a cursor: its table rows and the next page's cursor (``None``: the last)."""


class CursorPager:
    """Back and forward buttons and the page number under ``table``, over ``fetch``'s cursors.

    ``texts`` is the locale prefix of the page (``<texts>.prev``, ``.next``, ``.page``). A page
    that fails to load shows the error and leaves the table as it was.
    """

    def __init__(self, table: ui.table, fetch: Fetch, *, texts: str) -> None:
        self.table = table
        self.fetch = fetch
        self.texts = texts
        self.history: list[str | None] = []  # cursors of the pages before the current one
        self.cursor: str | None = None
        self.next: str | None = None
        with ui.row().classes("w-full items-center justify-between"):
            self.page_label = ui.label().classes("text-caption text-grey-7")
            with ui.row().classes("gap-2"):
                self.prev_button = ui.button(
                    t(f"{texts}.prev"), icon="chevron_left", on_click=self.prev_page
                ).props("outline no-caps")
                self.next_button = (
                    ui.button(t(f"{texts}.next"), on_click=self.next_page)
                    .props("outline no-caps icon-right=chevron_right")
                    .mark("next-page")
                )

    async def first(self) -> None:
        """Show the first page (a new search starts over)."""
        self.history.clear()
        await self._show(None)

    async def next_page(self) -> None:
        if self.next is None:
            return
        self.history.append(self.cursor)
        if not await self._show(self.next):
            self.history.pop()

    async def prev_page(self) -> None:
        if self.history:
            await self._show(self.history.pop())

    async def _show(self, cursor: str | None) -> bool:
        try:
            rows, following = await self.fetch(cursor)
        except AppError as exc:
            show_error(exc)
            return False
        self.cursor, self.next = cursor, following
        self.table.rows = rows
        self.table.update()
        self.prev_button.set_enabled(bool(self.history))
        self.next_button.set_enabled(following is not None)
        self.page_label.set_text(t(f"{self.texts}.page", n=len(self.history) + 1))
        return True


def link_rows(table: ui.table, base: str) -> None:
    """Make each row's name a link to ``<base>/<row id>`` and a click on the row open it."""
    table.add_slot(
        "body-cell-name",
        f'<q-td :props="props"><a :href="\'{base}/\' + props.row.id" @click.stop '
        'class="text-primary text-weight-medium">{{ props.value }}</a></q-td>',
    )

    def open_row(e: GenericEventArguments) -> None:
        row = e.args[1] if isinstance(e.args, list) and len(e.args) > 1 else None
        if isinstance(row, dict) and "id" in row:
            ui.navigate.to(f"{base}/{row['id']}")

    table.on("rowClick", open_row)
