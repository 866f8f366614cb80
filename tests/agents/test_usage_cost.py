"""Usage and cost: providers' token reports (cache reads/writes included) become transcript usage in the
reference's form, priced from the catalog; ``usage.cost`` sums transcripts per day, model and session over
``days``; ``usage.status`` has the original's shape."""

import datetime
import json
import os
import time

import attrs
import pytest
import trio

from moltbot.agents.cost import SessionSource, parse_days, summarize
from moltbot.agents.providers.base import Usage
from moltbot.agents.providers.openai import openai_usage
from moltbot.client import open_gateway_client
from moltbot.config.model import Config, ModelProviderConfig
from moltbot.gateway.app import open_gateway
from moltbot.protocol import RemoteProtocolError
from tests.agents.test_agent_provider_runs import config_for
from tests.conftest import TOKEN
from tests.fakes.openai import chunk, open_fake_openai, stream_reply, text_chunks, text_reply

PRICE = {"input": 1, "output": 2, "cacheRead": 0.5, "cacheWrite": 4}


def priced(config: Config) -> Config:
    """The fake provider ``local``'s model with a context window and a price (dollars per million)."""
    local = config.models.providers["local"]
    models = [{"id": "fake-model", "contextWindow": 64_000, "cost": PRICE}]
    return attrs.evolve(config, models=attrs.evolve(config.models, providers={
        **config.models.providers, "local": attrs.evolve(local, models=models)}))


def test_openai_cached_prompt_tokens_are_cache_reads():
    usage = openai_usage({"prompt_tokens": 120, "completion_tokens": 9,
                          "prompt_tokens_details": {"cached_tokens": 100}})
    assert usage == Usage(20, 9, cache_read=100)
    assert openai_usage({"prompt_tokens": "many", "completion_tokens": -1}) == Usage()


def test_days_are_read_as_the_original_reads_them():
    assert [parse_days(v) for v in (None, 7, 7.9, "14", "x", 0, True, float("nan"))] == [30, 7, 7, 14, 30, 1, 30, 30]


def _line(when_ms: int, usage: dict, *, line_id: str, model: str = "fake-model") -> str:
    stamp = datetime.datetime.fromtimestamp(when_ms / 1000, datetime.UTC).isoformat()
    return json.dumps({"type": "message", "id": line_id, "timestamp": stamp,
                       "message": {"role": "assistant", "content": [], "timestamp": when_ms, "usage": usage,
                                   "provider": "local", "model": model}})


def test_summary_counts_archives_once_and_leaves_out_days_before_the_window(tmp_path):
    now = int(time.time() * 1000)
    day = 86_400_000
    old, today, yesterday = now - 40 * day, now, now - day
    recorded = {"input": 10, "output": 5, "totalTokens": 15, "cost": {"input": 1, "output": 1, "total": 2}}
    unpriced = {"input": 1000, "output": 0, "cacheRead": 2000, "cacheWrite": 0}
    (tmp_path / "s1.jsonl").write_text("\n".join([
        _line(today, recorded, line_id="a"), _line(yesterday, unpriced, line_id="b"),
        '{"torn', _line(old, recorded, line_id="c")]) + "\n")
    # a compaction's archive repeats line "a" (counted once) and has one line of its own
    (tmp_path / "s1.jsonl.bak.1700000000").write_text(
        _line(today, recorded, line_id="a") + "\n" + _line(today, unpriced, line_id="d", model="other") + "\n")
    (tmp_path / "sessions.json").write_text("{}")
    config = priced(config_for(tmp_path, "http://127.0.0.1:9"))
    summary = summarize([SessionSource("main", tmp_path, {"s1": "agent:main:main"})], config, days=30, now_ms=now)
    totals = summary["totals"]
    assert (totals["input"], totals["output"], totals["cacheRead"], totals["totalTokens"]) == (2010, 5, 4000, 6015)
    # "a" as recorded; "b" priced from the catalog (1000 in at 1 $, 2000 cached at 0.5 $); "d" has no price
    assert abs(totals["totalCost"] - (2 + 0.001 + 0.001)) < 1e-9 and totals["missingCostEntries"] == 1
    assert [d["date"] for d in summary["daily"]] == sorted({
        datetime.datetime.fromtimestamp(t / 1000).date().isoformat() for t in (today, yesterday)})
    assert {(m["model"], m["totalTokens"]) for m in summary["byModel"]} == {("fake-model", 3015), ("other", 3000)}
    assert summary["bySession"][0]["key"] == "agent:main:main"
    longer = summarize([SessionSource("main", tmp_path, {})], config, days=60, now_ms=now)
    assert longer["totals"]["totalTokens"] == 6030 and longer["bySession"][0]["key"] is None


def test_files_untouched_since_the_window_are_not_read(tmp_path):
    now = int(time.time() * 1000)
    path = tmp_path / "s2.jsonl"
    path.write_text(_line(now, {"input": 1, "output": 1}, line_id="x") + "\n")
    long_ago = time.time() - 90 * 86_400
    os.utime(path, (long_ago, long_ago))
    summary = summarize([SessionSource("main", tmp_path, {})], Config(), days=30, now_ms=now)
    assert summary["totals"]["totalTokens"] == 0 and summary["daily"] == []


async def test_runs_are_counted_in_usage_cost_and_the_entry(tmp_path):
    cached = stream_reply(*text_chunks("hi"), chunk(finish_reason="stop"),
                          chunk(usage={"prompt_tokens": 300, "completion_tokens": 4,
                                       "prompt_tokens_details": {"cached_tokens": 200}}), "[DONE]")
    async with open_fake_openai(text_reply("one", usage=(50, 10)), cached) as fake:
        config = priced(config_for(tmp_path, fake.base_url))
        async with open_gateway(config, port=0, env={}) as gateway, \
                open_gateway_client(gateway.url, token=TOKEN) as client:
            with trio.fail_after(10):
                for run_id in ("u1", "u2"):
                    await client.call("agent", {"message": "hello", "idempotencyKey": run_id})
                    await client.call("agent.wait", {"runId": run_id})
                cost = await client.call("usage.cost", {"days": "7"})
                status = await client.call("usage.status", {})
            entry = gateway.runtime.agents.store("main").entries["agent:main:main"]
    assert cost["days"] == 7 and set(status) == {"updatedAt", "providers"} and status["providers"] == []
    totals = cost["totals"]
    assert (totals["input"], totals["output"], totals["cacheRead"], totals["totalTokens"]) == (150, 14, 200, 364)
    expected = (150 * 1 + 14 * 2 + 200 * 0.5) / 1e6
    assert abs(totals["totalCost"] - expected) < 1e-12 and totals["missingCostEntries"] == 0
    assert cost["byModel"][0]["provider"] == "local" and cost["byModel"][0]["model"] == "fake-model"
    assert (entry["inputTokens"], entry["outputTokens"], entry["totalTokens"], entry["contextTokens"]) == (
        100, 4, 300, 64_000)


async def test_usage_cost_of_an_unknown_agent_is_refused(tmp_path):
    config = attrs.evolve(config_for(tmp_path, "http://127.0.0.1:9"), models=attrs.evolve(
        Config().models, providers={"local": ModelProviderConfig(base_url="http://127.0.0.1:9")}))
    async with open_gateway(config, port=0, env={}) as gateway, \
            open_gateway_client(gateway.url, token=TOKEN) as client:
        with trio.fail_after(10), pytest.raises(RemoteProtocolError, match="unknown agent id"):
            await client.call("usage.cost", {"agentId": "nobody"})


def test_status_usage_renders_totals_days_and_models(capsys):
    from moltbot.cli.output import Output
    from moltbot.cli.status import render_usage

    totals = {"totalTokens": 12_500, "input": 10_000, "output": 2_500, "cacheRead": 0, "totalCost": 0.0125,
              "missingCostEntries": 2}
    render_usage(Output(), {"days": 7, "totals": totals, "daily": [{"date": "2026-12-01", **totals}],
                            "byModel": [{"provider": "local", "model": "fake-model", **totals}]})
    text = capsys.readouterr().out
    assert "Usage, last 7 days: 12.5k tokens (10.0k in, 2.5k out, 0 cache read), $0.0125 (+2 unpriced)" in text
    assert "2026-12-01" in text and "local/fake-model" in text
