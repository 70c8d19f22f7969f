"""The page in auth mode, in a real Chromium against the whole stack with AUTH_JWT_SECRET:
it asks for a token, sends it on every request and on its WebSocket (as a subprotocol),
says clearly when the token is missing, expired or refused or the caller is too fast,
and never shows another user's results."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Browser, Page, expect

from binconv import reference
from pyservices.common.auth import mint
from tests.support.processes import ServiceProcesses

from .conftest import opened_sites
from .site import Site, SiteFactory

pytestmark = pytest.mark.browser

SECRET = "browser-test-secret-of-at-least-32-bytes"
RESULT_TIMEOUT_MS = 15_000
# Low enough to reach from the page: 4 tasks at once, then one every 2 s, per caller.
TASKS_BURST = 4


@pytest.fixture(scope="module")
def auth_stack(make_stack: Callable[[], ServiceProcesses]) -> ServiceProcesses:
    processes = make_stack()
    processes.extra_env = {
        "AUTH_JWT_SECRET": SECRET,
        # The page finds the WebSocket service where the operator says: no ?ws= needed.
        "PAGE_WEBSOCKET_URL": processes.ports.websocket_url,
        "RATE_LIMIT_TASKS_PER_SECOND": "0.5",
        "RATE_LIMIT_TASKS_BURST": str(TASKS_BURST),
    }
    processes.start_all()
    return processes


@pytest.fixture
def open_auth_site(chromium: Browser, auth_stack: ServiceProcesses) -> Iterator[SiteFactory]:
    with opened_sites(chromium, f"http://127.0.0.1:{auth_stack.ports.gateway}/") as make:
        yield make


def expect_processed(site: Site, message: str) -> str:
    """Waits for the row of `message` to show its code, live; returns its task id."""
    row = site.page.locator("#task-rows tr", has_text=message).first
    expect(row).to_have_attribute("data-status", "processed", timeout=RESULT_TIMEOUT_MS)
    assert row.locator(".bits").text_content() == reference.encode(message)
    task_id = row.get_attribute("data-id")
    assert task_id
    return task_id


def sign_in(site: Site, token: str) -> None:
    site.page.locator("#auth-token").fill(token)
    site.page.locator("#auth-use").click()
    expect(site.page.locator("#conn")).to_have_attribute("data-state", "connected")


def expect_asked_for_a_token(page: Page, message: str) -> None:
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#auth-message")).to_have_text(message)
    expect(page.locator("#auth-token")).to_be_visible()
    for part in ("#compose-form", "#feed", "#task-table"):
        expect(page.locator(part)).to_be_hidden()
    expect(page.locator("#conn")).to_have_attribute("data-state", "signed-out")
    expect(page.locator("#sign-out")).to_be_hidden()


def test_without_a_token_the_page_asks_for_one_and_opens_no_websocket(
    open_auth_site: SiteFactory,
) -> None:
    site = open_auth_site(connected=False)

    expect_asked_for_a_token(site.page, "This site needs an access token to show your tasks.")
    assert not any(url.startswith("ws") for url in site.requested)
    assert not any(url.endswith("/query") for url in site.requested)


def test_with_a_typed_token_the_page_sends_and_sees_its_results_live(
    open_auth_site: SiteFactory,
) -> None:
    site = open_auth_site(connected=False)
    sign_in(site, mint(SECRET, "alice"))

    expect(site.page.locator("#auth")).to_be_hidden()
    expect(site.page.locator("#sign-out")).to_be_visible()
    site.page.evaluate("window.notReloaded = true")
    site.send(["hello from alice", "ünïcödé ✓"])

    expect_processed(site, "hello from alice")
    expect_processed(site, "ünïcödé ✓")
    expect(site.page.locator("#feed")).to_contain_text("hello from alice")
    assert site.page.evaluate("window.notReloaded") is True
    # Kept for this tab only, and never put in the address.
    assert site.page.evaluate("sessionStorage.getItem('binconv.token')")
    assert "ey" not in site.page.url


def test_another_users_tasks_and_results_never_appear(open_auth_site: SiteFactory) -> None:
    bob = open_auth_site(token=mint(SECRET, "bob"))
    carol = open_auth_site(token=mint(SECRET, "carol"))

    bob.send(["bob's first", "bob's second"])
    carol.send(["carol's only"])
    bob_ids = {expect_processed(bob, "bob's first"), expect_processed(bob, "bob's second")}
    carol_ids = {expect_processed(carol, "carol's only")}
    # Both saw their own results live; each one's results were published while the
    # other's page was connected, so a leak would have arrived by now. Reloading shows
    # what the server lists for each.
    expect(bob.page.locator("#feed-count")).to_have_text("2 results")
    expect(carol.page.locator("#feed-count")).to_have_text("1 result")
    for site, own, other, other_text in (
        (bob, bob_ids, carol_ids, "carol"),
        (carol, carol_ids, bob_ids, "bob"),
    ):
        shown = set(
            site.page.locator("#task-rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        )
        assert shown == own
        assert other_text not in (site.page.locator("#feed").text_content() or "")
        site.page.reload()
        expect(site.page.locator("#conn")).to_have_attribute("data-state", "connected")
        expect(site.page.locator("#task-rows tr")).to_have_count(len(own))
        shown = set(
            site.page.locator("#task-rows tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        )
        assert shown == own and not shown & other


@pytest.mark.parametrize(
    ("token", "said"),
    [
        (mint(SECRET, "dan", expires_in=-3600), "Your access token has expired."),
        (
            mint("a-forged-secret-of-at-least-32-bytes!!", "dan"),
            "Your access token was not accepted (the token's signature is invalid).",
        ),
    ],
    ids=["expired", "forged"],
)
def test_an_expired_or_forged_token_is_refused_with_a_clear_message(
    open_auth_site: SiteFactory, token: str, said: str
) -> None:
    site = open_auth_site(token=token, connected=False)

    expect_asked_for_a_token(site.page, said)
    assert site.page.evaluate("sessionStorage.getItem('binconv.token')") is None


def test_a_caller_over_its_rate_is_told_how_long_to_wait_and_others_go_on(
    open_auth_site: SiteFactory,
) -> None:
    eve = open_auth_site(token=mint(SECRET, "eve"))
    frank = open_auth_site(token=mint(SECRET, "frank"))

    eve.send([f"eve {n}" for n in range(TASKS_BURST)])
    eve.type_messages(["eve, one too many"])
    eve.page.locator("#send").click()

    error = eve.page.locator("#form-error")
    expect(error).to_contain_text(
        re.compile(r"faster than this site allows: try again in \d+ seconds?\.")
    )
    expect(error).to_contain_text("Your messages are still here.")
    assert eve.fields().first.input_value() == "eve, one too many"
    frank.send(["frank is not slowed"])
    expect_processed(frank, "frank is not slowed")


def test_signing_out_forgets_the_token_and_shows_nothing_of_the_user(
    open_auth_site: SiteFactory,
) -> None:
    site = open_auth_site(connected=False)  # typed: the hook's init script would run again
    sign_in(site, mint(SECRET, "grace"))
    site.send(["grace's secret"])
    expect_processed(site, "grace's secret")

    site.page.locator("#sign-out").click()

    expect_asked_for_a_token(site.page, "This site needs an access token to show your tasks.")
    assert site.page.evaluate("sessionStorage.getItem('binconv.token')") is None
    expect(site.page.locator("#task-rows tr")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violation_on_the_sign_in(
    open_auth_site: SiteFactory, scheme: str
) -> None:
    site = open_auth_site(connected=False, color_scheme="dark" if scheme == "dark" else "light")
    expect(site.page.locator("#auth")).to_be_visible()
    site.settle()

    results = Axe().run(site.page)

    serious = [
        violation
        for violation in results.response["violations"]
        if violation["impact"] in {"serious", "critical"}
    ]
    assert serious == [], results.generate_report()
    site.screenshot(f"{scheme}-sign-in")
