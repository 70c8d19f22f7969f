"""The page in a real Chromium against the whole stack: what a person does and sees."""

from __future__ import annotations

import os
import shutil
from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import expect

from binconv import reference
from devstack.infra import REPO
from tests.support.processes import ServiceProcesses

from .site import PHONE, SCREENSHOTS, WIDE, Scheme, Site, SiteFactory

pytestmark = pytest.mark.browser

NON_ASCII = "héllo wörld 🦀"
HTML_LIKE = "<img src=x onerror=alert(1)>"
RESULT_TIMEOUT_MS = 15_000
SHOWCASE = ["Hello, world!", NON_ASCII, "01? That's binary for you."]


def expect_processed(site: Site, row_index: int, message: str) -> None:
    row = site.page.locator("#task-rows tr").nth(row_index)
    expect(row).to_have_attribute("data-status", "processed", timeout=RESULT_TIMEOUT_MS)
    assert row.locator(".message").text_content() == message
    assert row.locator(".bits").text_content() == reference.encode(message)
    expect(row.locator(".badge")).to_have_text("Processed")


def test_sent_messages_turn_into_their_binary_codes_without_a_reload(
    open_site: SiteFactory,
) -> None:
    site = open_site()
    site.page.evaluate("window.notReloaded = true")

    site.send([NON_ASCII, "hello"])

    expect_processed(site, 0, NON_ASCII)
    expect_processed(site, 1, "hello")
    assert site.page.evaluate("window.notReloaded") is True
    assert [field.input_value() for field in site.fields().all()] == [""]
    expect(site.page.locator("#feed")).to_contain_text("hello")


def test_the_form_works_from_the_keyboard_alone(open_site: SiteFactory) -> None:
    site = open_site()
    keyboard = site.page.keyboard
    for _ in range(5):
        keyboard.press("Tab")
        if site.page.evaluate("document.activeElement.id") == "message-1":
            break
    assert site.page.evaluate("document.activeElement.id") == "message-1"

    keyboard.type("typed")
    keyboard.press("Enter")  # in the last field: a new field, focused
    keyboard.type("by keys")
    keyboard.press("Control+Enter")  # sends

    expect(site.page.locator("#form-status")).to_contain_text("Sent 2 messages")
    expect_processed(site, 0, "typed")
    expect_processed(site, 1, "by keys")


def test_binary_code_can_be_grouped_by_byte_and_is_copied_whole(open_site: SiteFactory) -> None:
    site = open_site()
    site.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    site.send(["Hi"])
    expect_processed(site, 0, "Hi")
    bits = site.page.locator("#task-rows tr").first.locator(".bits")

    site.page.get_by_label("Group bits by byte").check()

    expect(bits).to_have_text("01001000 01101001")
    site.page.get_by_role("button", name="Copy the binary code of task").first.click()
    expect(site.page.locator("#announcer")).to_have_text("Copied to the clipboard")
    assert site.page.evaluate("navigator.clipboard.readText()") == "0100100001101001"


def test_a_message_that_looks_like_html_is_shown_as_text(open_site: SiteFactory) -> None:
    site = open_site()

    site.send([HTML_LIKE])

    expect_processed(site, 0, HTML_LIKE)
    row = site.page.locator("#task-rows tr").first
    expect(row.locator(".message")).to_have_text(HTML_LIKE)
    assert site.page.locator("img").count() == 0
    assert site.dialogs == []


def test_a_server_validation_error_is_shown_and_the_typed_text_is_kept(
    open_site: SiteFactory,
) -> None:
    site = open_site()
    first_row_before = site.page.locator("#task-rows tr").first.get_attribute("data-id")
    site.type_messages(["fine", "   "])

    site.page.locator("#send").click()

    error = site.page.locator("#message-2-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Message 2 is empty. Type some text (spaces alone don't count).")
    expect(site.page.locator("#form-error")).to_have_text("One message needs a fix before sending.")
    expect(site.page.locator("#message-2")).to_have_attribute("aria-invalid", "true")
    expect(site.page.locator("#message-2")).to_be_focused()
    assert [field.input_value() for field in site.fields().all()] == ["fine", "   "]
    assert site.page.locator("#task-rows tr").first.get_attribute("data-id") == first_row_before


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violation(open_site: SiteFactory, scheme: Scheme) -> None:
    site = open_site(color_scheme=scheme)
    site.send(["accessible"])
    expect_processed(site, 0, "accessible")
    site.type_messages(["", " "])  # and the error state too
    site.page.locator("#send").click()
    expect(site.page.locator("#form-error")).to_be_visible()
    site.settle()

    results = Axe().run(site.page)

    serious = [
        violation
        for violation in results.response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert serious == [], results.generate_report()


def test_the_page_asks_nothing_of_any_other_machine(open_site: SiteFactory) -> None:
    site = open_site()
    site.send(["local only"])
    expect_processed(site, 0, "local only")

    assert any(url.endswith("/query") for url in site.requested)
    assert any(url.startswith("ws://") for url in site.requested)
    assert site.foreign_requests() == []


def test_screenshots_wide_and_phone(open_site: SiteFactory) -> None:
    schemes: tuple[Scheme, ...] = ("light", "dark")
    for scheme in schemes:
        for name, viewport in (("wide", WIDE), ("phone", PHONE)):
            site = open_site(color_scheme=scheme, viewport=viewport)
            # Something in every part of the page: results in the feed, a draft in the form.
            site.send(SHOWCASE)
            for index, message in enumerate(SHOWCASE):
                expect_processed(site, index, message)
            site.type_messages(["A draft that is not sent yet", "Ünïcödé is fine ✓"])
            site.page.evaluate("document.activeElement.blur()")
            site.settle()
            site.screenshot(f"{scheme}-{name}")

    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):  # `just screenshot` refreshes the README's
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / "light-wide.png", docs / "page.png")


def test_results_missed_while_disconnected_arrive_after_the_reconnect(
    open_site: SiteFactory, stack: ServiceProcesses
) -> None:
    site = open_site()
    conn = site.page.locator("#conn")

    stack.kill("websocket")
    expect(conn).not_to_have_attribute("data-state", "connected")
    site.send(["sent while offline"])
    row = site.page.locator("#task-rows tr").first
    expect(row.locator(".message")).to_have_text("sent while offline")
    expect(row).to_have_attribute("data-status", "pending")
    stack.start("websocket")
    # Rather than wait out the backoff; in one step, since the page may have just
    # reconnected by itself (the button hides then).
    site.page.evaluate(
        """() => {
            if (document.querySelector("#conn").dataset.state !== "connected") {
                document.querySelector("#conn-retry").click();
            }
        }"""
    )

    expect(conn).to_have_attribute("data-state", "connected", timeout=RESULT_TIMEOUT_MS)
    expect_processed(site, 0, "sent while offline")


def test_an_override_pointing_at_another_site_is_ignored_and_said(
    open_site: SiteFactory,
) -> None:
    site = open_site()
    elsewhere = "http://127.0.0.1:9/query"

    site.page.goto(f"{site.url}&graphql={quote(elsewhere, safe='')}")

    expect(site.page.locator("#conn")).to_have_attribute("data-state", "connected")
    expect(site.page.locator("#feed")).to_contain_text(
        "The address in ?graphql= was ignored: this site does not allow it."
    )
    expect(site.page.locator("#graphql-url")).to_have_text(site.url.split("/?")[0] + "/query")
    site.send(["still talks to its own gateway"])
    expect_processed(site, 0, "still talks to its own gateway")
    assert elsewhere not in site.requested


def test_the_policy_lets_the_page_connect_nowhere_else(open_site: SiteFactory) -> None:
    site = open_site()

    blocked = site.page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                "securitypolicyviolation",
                (event) => resolve([event.blockedURI, event.effectiveDirective]),
                { once: true },
            );
            fetch("http://127.0.0.1:9/elsewhere").catch(() => {});
        })"""
    )

    assert blocked == ["http://127.0.0.1:9/elsewhere", "connect-src"]
