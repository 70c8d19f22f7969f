"""A real Chromium (the system's, nothing downloaded) driving the page of a running stack.

Playwright's sync API in plain sync tests: the suite's asyncio loop is never running
while these run, so the two do not meet.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Playwright, ViewportSize, sync_playwright

from tests.support.processes import ServiceProcesses

from .site import CHROMIUM, CHROMIUM_ARGS, WIDE, Scheme, Site, SiteFactory, page_url


@pytest.fixture(scope="module")
def stack(make_stack: Callable[[], ServiceProcesses]) -> ServiceProcesses:
    """The stack in open mode; the page is opened with ?ws= at its WebSocket port, an
    override the operator allows (PAGE_ALLOWED_ENDPOINTS)."""
    processes = make_stack()
    processes.extra_env = {"PAGE_ALLOWED_ENDPOINTS": processes.ports.websocket_url}
    processes.start_all()
    return processes


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def chromium(driver: Playwright) -> Iterator[Browser]:
    browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_site(chromium: Browser, stack: ServiceProcesses) -> Iterator[SiteFactory]:
    """Opens the page in a fresh context (no shared storage) and checks it stayed local."""
    with opened_sites(chromium, page_url(stack)) as make:
        yield make


@contextlib.contextmanager
def opened_sites(chromium: Browser, url: str) -> Iterator[SiteFactory]:
    sites: list[Site] = []

    def make(
        *,
        color_scheme: Scheme = "light",
        viewport: ViewportSize = WIDE,
        token: str | None = None,
        connected: bool = True,
    ) -> Site:
        context = chromium.new_context(viewport=viewport, color_scheme=color_scheme)
        if token is not None:  # as an operator's login flow hands it over (access-control.md)
            context.add_init_script(f"sessionStorage.setItem('binconv.token', {json.dumps(token)})")
        page = context.new_page()
        site = Site(page, url)
        context.on("request", lambda request: site.requested.append(request.url))
        page.on("websocket", lambda socket: site.requested.append(socket.url))
        page.on("pageerror", lambda error: site.page_errors.append(str(error)))
        page.on("dialog", site.dismiss_dialog)
        sites.append(site)
        site.open(connected=connected)
        return site

    yield make
    for site in sites:
        site.page.context.close()
        assert site.requested, "the page made no request at all"
        assert site.foreign_requests() == []
        assert site.page_errors == []
        assert site.dialogs == []
