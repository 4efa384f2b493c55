"""The one way browser tests get Chromium: launched so that it cannot reach the network
(``browser.py``), and checked when it closes: its NetLog must show no destination outside
loopback, or the module's tests error at teardown."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.browser import CHROMIUM, TIMEOUT_MS, Chromium, launch, read_netlog, trace

REQUIRE = os.environ.get("STRONGBOX_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        if REQUIRE:
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium chromium-driver)")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE:
            pytest.fail("the playwright package is missing (pip install -e '.[dev]')")
        pytest.skip("playwright is not installed")
    netlog: Path = tmp_path_factory.mktemp("chromium") / "netlog.json"
    with sync_playwright() as p:
        c = launch(p, netlog)
        try:
            yield c
        finally:
            c.close()
    found = trace(read_netlog(netlog))
    assert found.violations == [], f"Chromium reached outside loopback: {found.violations}"


@pytest.fixture(scope="module")
def browser(chromium: Chromium) -> Any:
    return chromium.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    try:
        yield pg
    finally:
        context.close()
