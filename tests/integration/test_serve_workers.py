"""``siyu serve`` as a user runs it, with one and with several processes, on both databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from siyu.core.db import make_engine
from tests.conftest import BACKENDS, POSTGRES_URL, require_postgres, worker_id


@pytest.fixture(params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS])
def serve_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env["SIYU_HOME"] = str(tmp_path / "home")
    env["PYTHONUNBUFFERED"] = "1"  # the log is read while the server runs
    schema = f"siyu_serve_{worker_id()}"
    if request.param == "postgresql":
        require_postgres()
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        env["SIYU_DATABASE_URL"] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    yield env
    if request.param == "postgresql":
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str], workers: int, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``siyu serve`` and wait until it is ready; return its URL and process group."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siyu", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return base, proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server as an operator would (SIGTERM to the group) and wait until it is gone."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _count(log: Path, event: str) -> int:
    return sum(event in line for line in log.read_text().splitlines())


def test_serve_with_two_processes_serves_the_api_and_runs_jobs_once(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    base, proc = _serve(serve_env, 2, log)
    try:
        seen = set()
        for _ in range(20):  # new connections, so both processes answer some
            r = httpx.get(f"{base}/api/v1/me", headers={"X-Request-ID": "serve-2"})
            assert r.status_code == 401
            assert r.json()["request_id"] == "serve-2"
            seen.add(r.headers["x-request-id"])
        assert seen == {"serve-2"}
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        # the console is not served by several processes (NiceGUI keeps page state in one)
        assert httpx.get(f"{base}/login").status_code == 404
    finally:
        _stop(proc)
    output = log.read_text()
    assert "with 2 processes" in output
    assert "the console needs one process" in output
    assert _count(log, "job_workers_started") == 1, output  # in the supervisor only
    statistics = _count(log, "sqlite_statistics_refreshed")
    assert statistics == (1 if "SIYU_DATABASE_URL" not in serve_env else 0), output


def test_serve_with_one_process_serves_everything(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    base, proc = _serve(serve_env, 1, log)
    try:
        assert httpx.get(f"{base}/api/v1/me").status_code == 401
        assert httpx.get(f"{base}/login").status_code == 200
    finally:
        _stop(proc)
    assert _count(log, "job_workers_started") == 1, log.read_text()
