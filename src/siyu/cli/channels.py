"""``siyu wecom …``: the command group for WeCom accounts, sync and callbacks.

Commands live in modules by concern (``cli/wecom_accounts.py``, ``cli/wecom_sync.py``) and
attach themselves to ``wecom_app``; ``cli/main.py`` imports them.
"""

from __future__ import annotations

import typer

wecom_app = typer.Typer(
    help="WeCom accounts, sync, reconciliation and callbacks", no_args_is_help=True
)
