"""Browser tests: a real ``siyu demo`` server in a subprocess, driven by headless Chromium.

The session starts one demo server (SQLite under a temporary ``SIYU_HOME``, 300 customers) and
one browser; every test gets a fresh browser context, so cookies and NiceGUI user storage never
leak between tests. A failing test leaves a screenshot in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
READY_TIMEOUT_S = 120
TIMEOUT_MS = 15_000
"""How long an action or ``expect`` waits: generous, CI machines have two busy cores."""
DEMO_PASSWORD = "siyu-demo-2026"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


def _failed(node: pytest.Item) -> bool:
    report = node.stash.get(_CALL_REPORT, None)
    return report is not None and report.failed


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Return Debian's Chromium, installing it (and a CJK font for screenshots) if missing."""
    if not CHROMIUM.exists():
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "chromium", "fonts-wqy-microhei"],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return CHROMIUM


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _siyu_command() -> list[str]:
    exe = shutil.which("siyu") or str(Path(sys.executable).with_name("siyu"))
    if Path(exe).exists():
        return [exe]
    return [sys.executable, "-c", "from siyu.cli.main import main; main()"]


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def run_siyu(
    home: Path, command: Sequence[str], env: Mapping[str, str] | None = None
) -> Iterator[DemoServer]:
    """Run ``siyu <command> --port N`` on a free port with ``home`` as its SIYU_HOME; yield the
    server once it answers, stop it when the generator closes."""
    port = _free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    full_env |= {"SIYU_HOME": str(home), "SIYU_ENV": "test", **(env or {})}
    log_path = home / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_siyu_command(), *command, "--port", str(port)],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    server = DemoServer(f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_ready(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _run_demo(home: Path, *extra: str) -> Iterator[DemoServer]:
    yield from run_siyu(home, ["demo", "--customers", "300", *extra])


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """Run ``siyu demo --no-wecom`` on a free port with its own SQLite home: data that stays put
    while tests count it."""
    yield from _run_demo(tmp_path_factory.mktemp("siyu-demo-home"), "--no-wecom")


@pytest.fixture(scope="session")
def wecom_demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """Run ``siyu demo`` with its fake WeCom and simulated customers; ready once the first
    burst of traffic is in (modules use it by overriding ``demo_server``)."""
    for server in _run_demo(tmp_path_factory.mktemp("siyu-wecom-demo-home")):
        deadline = time.monotonic() + READY_TIMEOUT_S * 2
        while "demo_traffic_ready" not in server.log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise AssertionError(
                    "the demo's WeCom traffic never became ready; log tail:\n"
                    + server.log.read_text(errors="replace")[-4000:]
                )
            time.sleep(1)
        yield server


def _wait_until_ready(process: subprocess.Popen[bytes], server: DemoServer) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"`siyu demo` exited with {process.returncode}:\n"
                    + server.log.read_text(errors="replace")[-4000:]
                )
            try:
                if client.get(server.url("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    pytest.fail(
        f"`siyu demo` not ready after {READY_TIMEOUT_S} s:\n"
        + server.log.read_text(errors="replace")[-4000:]
    )


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(
    browser: Browser, demo_server: DemoServer, request: pytest.FixtureRequest
) -> Iterator[NewPage]:
    """Return a factory of pages, each in a fresh context (own cookies, own NiceGUI storage)."""
    contexts: list[BrowserContext] = []

    def make(viewport: ViewportSize = DESKTOP) -> Page:
        context = browser.new_context(
            viewport=viewport, base_url=demo_server.base_url, locale="zh-CN"
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    if _failed(request.node):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=ARTIFACTS / f"{name}-{n}-{m}.png", full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: NewPage) -> Page:
    """A desktop-sized page."""
    return new_page()
