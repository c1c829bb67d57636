"""End-to-end fixtures: the real gateway (``helserom run``) on a simulated room, driven by
Debian's Chromium through Playwright (never a Playwright-downloaded browser).

The gateway runs as a subprocess in its own session so teardown can prove that SIGTERM stops
it cleanly: exit code 0 within 10 s and nothing left in its process group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from tests.chromium import CHROMIUM as CHROMIUM_PATH
from tests.chromium import HEADLESS_ARGS
from tests.gatewayproc import GatewayProcess, start_gateway

CHROMIUM = Path(CHROMIUM_PATH)
CHROMIUM_ARGS = HEADLESS_ARGS


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    """`helserom run` on a simulated oximeter (HR 72, SpO2 97), stopped with SIGTERM."""
    gw = start_gateway()
    try:
        yield gw
    finally:
        try:
            gw.stop_cleanly()
        finally:
            gw.remove()


# Module scope: the sync API runs an event loop in this thread until it stops, and later
# (asyncio) test modules need the thread back.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver (sync API)."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's headless Chromium with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: install Debian's chromium (make apt-test)")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Kiosk:
    """A logged-in browser context with its console errors collected."""

    context: BrowserContext
    page: Page
    gateway: GatewayProcess
    errors: list[str]

    def login(self) -> None:
        """Visit the login URL; the gateway sets the cookie and redirects to /kiosk/."""
        response = self.page.goto(self.gateway.login_url)
        assert response is not None and response.ok, response
        # shell.js adds the screen shown as the hash (#vitals)
        assert self.page.url.split("#")[0] == f"{self.gateway.base_url}/kiosk/", self.page.url


KioskFactory = Callable[..., Kiosk]


@pytest.fixture
def kiosk_factory(browser: Browser, gateway: GatewayProcess) -> Iterator[KioskFactory]:
    """Makes logged-in kiosk contexts of a given viewport; fails on any browser console error."""
    made: list[Kiosk] = []

    def make(width: int = 1280, height: int = 800) -> Kiosk:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(f"console error: {message.text} ({message.location})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        kiosk = Kiosk(context, page, gateway, errors)
        made.append(kiosk)
        kiosk.login()
        return kiosk

    yield make
    for kiosk in made:
        kiosk.context.close()  # before the gateway stops: its WebSocket must not see the stop
    errors = [e for k in made for e in k.errors]
    assert not errors, "browser console errors:\n" + "\n".join(errors)


@pytest.fixture
def kiosk(kiosk_factory: KioskFactory) -> Kiosk:
    """A logged-in kiosk page at 1280x800."""
    return kiosk_factory()


@dataclass
class Browsed:
    """A participant's browser context with its console errors collected."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)
    expected: tuple[str, ...] = ()  # console errors this page causes on purpose

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]


@pytest.fixture
def participants(browser: Browser) -> Iterator[list[Browsed]]:
    """Participant contexts made by ``participant()``; none may log an unexpected error."""
    made: list[Browsed] = []
    yield made
    for b in made:
        b.context.close()
    errors = [e for b in made for e in b.unexpected()]
    assert not errors, "participant console errors:\n" + "\n".join(errors)


def participant(
    browser: Browser, made: list[Browsed], *, expected: tuple[str, ...] = ()
) -> Browsed:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    b = Browsed(context, page, expected=expected)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            b.errors.append(f"console error: {message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: b.errors.append(f"uncaught: {error}"))
    made.append(b)
    return b
