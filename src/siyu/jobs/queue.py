"""The huey instance every job is declared on, and the workers that run them.

Jobs are declared at import time on ``huey`` (``@huey.task()``), so the instance exists before
settings are read; ``configure`` then points it at its storage: Redis when ``redis_url`` is set
(production, any number of ``siyu worker`` processes), else a SQLite file under ``home``
(embedded, workers inside ``siyu serve``/``siyu demo``), or runs jobs at once in the caller
(``jobs.immediate``: tests). Job modules are listed in ``JOB_MODULES`` and imported by
``load_jobs`` so a worker knows every task.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

import structlog
from huey import Huey
from huey.consumer import Consumer
from huey.storage import RedisStorage, SqliteStorage

from siyu.config import Settings

log = structlog.get_logger(__name__)

JOB_MODULES = (
    "siyu.jobs.outbox",
    "siyu.channels.wecom.jobs",
    "siyu.channels.wecom.sync_jobs",
    "siyu.acquisition.jobs",
    "siyu.transfers.jobs",
)

huey = Huey("siyu", immediate=True, results=False, utc=True)
_configured: dict[str, Any] = {}
_lock = threading.Lock()


def load_jobs() -> None:
    """Import every module that declares jobs (idempotent)."""
    for module in JOB_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def configure(settings: Settings) -> Huey:
    """Point ``huey`` at the storage ``settings`` name and return it."""
    with _lock:
        if settings.jobs.immediate:
            huey.immediate = True
            _configured["storage"] = "immediate"
        else:
            if settings.redis_url:
                huey.storage_class = RedisStorage
                huey.storage_kwargs = {"url": settings.redis_url}
                kind = "redis"
            else:
                settings.home.mkdir(parents=True, exist_ok=True)
                huey.storage_class = SqliteStorage
                huey.storage_kwargs = {"filename": str(settings.home / "jobs.db")}
                kind = "sqlite"
            if huey.immediate:
                huey.immediate = False  # recreates the storage from the class and kwargs
            else:
                huey.storage = huey.create_storage()
            _configured["storage"] = kind
        load_jobs()
        log.info("jobs_configured", storage=_configured["storage"])
        return huey


class _QuietConsumer(Consumer):  # type: ignore[misc]  # huey ships no type hints
    """A consumer for a thread that is not the main one: it leaves signals to the host."""

    def _set_signal_handlers(self) -> None:
        return None


def start_workers(workers: int) -> Consumer:
    """Start ``workers`` worker threads and the scheduler in this process; return the consumer.

    For embedded deployments (``siyu serve``/``siyu demo`` without a separate worker). Stop
    them with ``stop_workers``.
    """
    if huey.immediate:
        raise RuntimeError("jobs run immediately (jobs.immediate); there is nothing to start")
    consumer = _QuietConsumer(huey, workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    log.info("job_workers_started", workers=workers, storage=_configured.get("storage"))
    return consumer


def stop_workers(consumer: Consumer) -> None:
    consumer.stop(graceful=True)
