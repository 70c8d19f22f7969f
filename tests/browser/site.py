"""The page as the browser tests see it: one Chromium page and what it asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from playwright.sync_api import Dialog, Locator, Page, ViewportSize, expect

from devstack.infra import REPO
from tests.support.processes import ServiceProcesses

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
WIDE: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
Scheme = Literal["light", "dark"]


@dataclass
class Site:
    """One browser page on the stack's page, with every URL it asked for."""

    page: Page
    url: str
    requested: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self, *, connected: bool = True) -> None:
        self.page.goto(self.url)
        if connected:
            expect(self.page.locator("#conn")).to_have_attribute("data-state", "connected")

    def fields(self) -> Locator:
        return self.page.locator("#fields input")

    def type_messages(self, messages: list[str]) -> None:
        """Types into the form the way a person does: Enter in the last field adds one."""
        self.fields().first.click()
        for index, message in enumerate(messages):
            if index > 0:
                self.page.keyboard.press("Enter")
            self.page.keyboard.insert_text(message)

    def send(self, messages: list[str]) -> list[Locator]:
        """Sends messages and returns their rows (the top of the first page, in order)."""
        self.type_messages(messages)
        self.page.locator("#send").click()
        expect(self.page.locator("#form-status")).to_contain_text("Sent")
        return [self.page.locator("#task-rows tr").nth(i) for i in range(len(messages))]

    def settle(self) -> None:
        """Waits for transitions and one-off animations (colors fade in) before measuring."""
        self.page.evaluate(
            "Promise.all(document.getAnimations()"
            ".filter((a) => a.effect.getTiming().iterations !== Infinity)"
            ".map((a) => a.finished.catch(() => null)))"
        )

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png")

    def dismiss_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requested if _host(url) not in LOCAL_HOSTS]


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def page_url(stack: ServiceProcesses) -> str:
    return f"http://127.0.0.1:{stack.ports.gateway}/?ws={quote(stack.ports.websocket_url, safe='')}"


class SiteFactory(Protocol):
    def __call__(
        self,
        *,
        color_scheme: Scheme = ...,
        viewport: ViewportSize = ...,
        token: str | None = ...,
        connected: bool = ...,
    ) -> Site: ...
