"""The Control UI's exec approval cards in headless Chromium: pending requests shown, answered from the page."""

from __future__ import annotations

import trio

from moltbot.client import open_gateway_client
from tests.conftest import TOKEN

from .conftest import dashboard_url, in_browser


async def test_pending_approvals_are_cards_answered_from_the_page(browser, ui_gateway):
    decisions: dict[str, str | None] = {}
    async with open_gateway_client(ui_gateway.url, token=TOKEN) as client, trio.open_nursery() as nursery:
        events = client.subscribe()

        async def ask(approval_id: str, command: str) -> None:
            answer = await client.call(
                "exec.approval.request",
                {
                    "id": approval_id,
                    "command": command,
                    "cwd": "/work/space",
                    "host": "gateway",
                    "agentId": "main",
                    "timeoutMs": 60_000,
                },
            )
            decisions[approval_id] = answer["decision"]

        nursery.start_soon(ask, "early", "echo asked before the page opened")
        with trio.fail_after(10):
            async for event in events:
                if event.event == "exec.approval.requested":
                    break

        def open_page() -> str:
            browser.driver.get(dashboard_url(ui_gateway))
            return browser.wait_text(
                "approvals-list", "echo asked before the page opened"
            )  # exec.approval.list

        early = await in_browser(open_page)
        nursery.start_soon(ask, "late", "rm -rf ./build")
        late = await in_browser(browser.wait_text, "approvals-list", "rm -rf ./build")  # the requested event

        def answer_both() -> bool:
            browser.css("button[aria-label='Allow once early']")[0].click()
            browser.wait(
                lambda _: "echo asked before" not in browser.text_of("approvals-list"),
                10,
                "the answered card stayed",
            )
            browser.css("button[aria-label='Deny late']")[0].click()
            browser.wait(lambda _: not browser.by_id("approvals").is_displayed(), 10, "the cards never left")
            return browser.console_errors() == []

        clean = await in_browser(answer_both)  # the nursery waits for both answers
    assert "Agent\nmain" in early and "/work/space" in early and "Allow once" in early
    assert "Run this command? (late)" in late
    assert decisions == {"early": "allow-once", "late": "deny"}
    assert clean
