"""The harness's ``handshake.timeout`` check assumes the 15 s default that ours and today's OpenClaw share
(``Target.handshake_timeout_ms``), so a run that gives it the time checks a default gateway correctly, and
a default run (``max_wait`` 5 s) still skips it instead of waiting 15 s."""

from __future__ import annotations

import trio

from moltbot.config.model import GatewayConfig
from moltbot.conformance import Options, Target, run_conformance
from moltbot.gateway.app import open_gateway
from tests.conftest import TOKEN


async def test_the_timeout_check_passes_against_a_gateway_with_the_default_timeout(config):
    assert config.gateway.handshake_timeout_ms == GatewayConfig().handshake_timeout_ms == 15_000
    with trio.fail_after(60):  # the conftest gateway fixture's 10 s bound is shorter than this check
        async with open_gateway(config, port=0, env={}) as gateway:
            report = await run_conformance(Target(gateway.url, token=TOKEN), checks=["handshake.timeout"],
                                           protocol_versions=(4,), options=Options(max_wait=20))
    assert report.ok and [r.name for r in report.passed] == ["handshake.timeout"], report.table()


async def test_a_default_run_skips_the_timeout_check_and_says_how_to_run_it(gateway):
    with trio.fail_after(30):
        report = await run_conformance(Target(gateway.url, token=TOKEN), checks=["handshake.timeout"],
                                       protocol_versions=(4,))
    (skipped,) = report.skipped
    assert "(15 s) is longer than max wait" in skipped.reason and "--max-wait 20" in skipped.reason
