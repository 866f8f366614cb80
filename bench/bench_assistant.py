"""Issue 20's figures, run by hand (not by pytest), in one process on 127.0.0.1:

    python bench/bench_assistant.py [--rounds 200]

(a) Workspace prompt: the time a turn spends building its system prompt from the workspace (the
    starter files: stat + read in a worker thread, then assembly): cold (first turn: every file read)
    and warm (unchanged files: one stat each), p50/p99 over ``--rounds``.
(b) Tool-call overhead, gateway side, without the model: ``ToolRegistry.invoke`` of ``read`` on a small
    file with the policy check, plus the two ``tool`` agent events and the transcript lines a turn makes.
(c) Exec approval round trip: ``exec`` of ``true`` through a gateway (not allowlisted), a WebSocket client
    with operator.approvals answering ``exec.approval.resolve`` as soon as ``exec.approval.requested``
    arrives, until the tool returns; and the same command allowlisted (no approval) for comparison.
(d) Compaction of a 1,000-turn session (user + assistant lines, one tool call and result every tenth turn,
    ~600 KB), gateway side: ``summarize_session`` with an in-process model that answers at once (reading,
    splitting, rendering the older turns, archiving and replacing the file), ``truncate`` (``sessions.compact``
    to 400 lines), and the ``usage.cost`` scan of that transcript; p50/p99 over ``--rounds // 20`` fresh copies.
Prints a markdown table and writes bench/results/assistant.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import attrs
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moltbot.agents.compaction import summarize_session, truncate  # noqa: E402
from moltbot.agents.cost import SessionSource, summarize  # noqa: E402
from moltbot.agents.prompt import PromptInput, build_system_prompt  # noqa: E402
from moltbot.agents.providers.base import Finish, TextDelta, Usage  # noqa: E402
from moltbot.agents.sessions import SessionStore, iso_now, message_line  # noqa: E402
from moltbot.agents.tools import policy_for  # noqa: E402
from moltbot.agents.turns import _tool_call_line, _tool_result_line, result_text  # noqa: E402
from moltbot.agents.workspace import BOOTSTRAP_ORDER, WorkspaceFiles, ensure_workspace  # noqa: E402
from moltbot.client import open_gateway_client  # noqa: E402
from moltbot.config.model import AuthConfig, Config, GatewayConfig  # noqa: E402
from moltbot.gateway.app import open_gateway  # noqa: E402

TOKEN = "bench-token-0123456789abcdef0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def prompt_build(workspace: Path, cache: WorkspaceFiles) -> None:
    files = await trio.to_thread.run_sync(cache.read, workspace, BOOTSTRAP_ORDER)
    build_system_prompt(PromptInput(agent_id="main", name="Molty", emoji=None, workspace=str(workspace),
                                    files=files))


async def bench_prompt(root: Path, rounds: int) -> dict[str, float]:
    cold, warm = [], []
    for index in range(rounds):
        workspace = root / f"ws{index}"
        ensure_workspace(workspace)
        cache = WorkspaceFiles()
        start = time.perf_counter()
        await prompt_build(workspace, cache)
        cold.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await prompt_build(workspace, cache)
        warm.append((time.perf_counter() - start) * 1000)
    return {"cold_p50_ms": statistics.median(cold), "cold_p99_ms": pct(cold, 0.99),
            "warm_p50_ms": statistics.median(warm), "warm_p99_ms": pct(warm, 0.99)}


async def bench_tools_and_approvals(root: Path, rounds: int) -> dict[str, float]:
    config = Config(gateway=GatewayConfig(auth=AuthConfig(token=TOKEN)), state_dir=root / "state")
    config = attrs.evolve(config, agents=attrs.evolve(config.agents, defaults=attrs.evolve(
        config.agents.defaults, workspace=str(root / "gw-ws"))))
    out: dict[str, float] = {}
    async with open_gateway(config, port=0, env={}) as gateway:
        runtime = gateway.runtime
        workspace = await runtime.agents.ensure_workspace("main")
        (workspace / "note.txt").write_text("hello\n")
        samples = []
        run = None
        for _ in range(rounds):
            start = time.perf_counter()
            policy = policy_for(runtime.config, "main")
            result, is_error = await runtime.tools.invoke("read", {"path": "note.txt"}, run=run, policy=policy)
            text = result_text(result)
            _tool_result_line(attrs.make_class("C", ["id", "name"])("c1", "read"), text, is_error)
            _tool_call_line("", [], "m", "p", None)
            samples.append((time.perf_counter() - start) * 1000)
        out |= {"tool_p50_ms": statistics.median(samples), "tool_p99_ms": pct(samples, 0.99)}
        async with open_gateway_client(gateway.url, token=TOKEN) as client:
            events = client.subscribe()

            async def answer() -> None:
                async for event in events:
                    if event.event == "exec.approval.requested":
                        await client.call("exec.approval.resolve", {"id": event.payload["id"],
                                                                   "decision": "allow-once"})

            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer)
                approved = []
                for _ in range(max(10, rounds // 10)):
                    start = time.perf_counter()
                    result, _ = await runtime.tools.invoke("exec", {"command": "true"})
                    assert result.get("status") == "completed", result
                    approved.append((time.perf_counter() - start) * 1000)
                await runtime.approvals.update(lambda f: {**f, "defaults": {"security": "full", "ask": "off"}})
                plain = []
                for _ in range(max(10, rounds // 10)):
                    start = time.perf_counter()
                    result, _ = await runtime.tools.invoke("exec", {"command": "true"})
                    plain.append((time.perf_counter() - start) * 1000)
                nursery.cancel_scope.cancel()
        out |= {"exec_approved_p50_ms": statistics.median(approved), "exec_approved_p99_ms": pct(approved, 0.99),
                "exec_no_approval_p50_ms": statistics.median(plain), "exec_no_approval_p99_ms": pct(plain, 0.99)}
    return out


class InstantModel:
    id = "instant"

    def models(self):
        return []

    async def stream(self, request):
        yield TextDelta("The user and the assistant talked about the weather for a long time.")
        yield Usage(1000, 20)
        yield Finish("stop")


def long_session(path: Path, turns: int = 1000) -> None:
    lines = [{"type": "session", "version": 3, "id": "bench", "timestamp": iso_now(), "cwd": "/"}]
    for n in range(turns):
        lines.append(message_line("user", f"Question {n}: what about the weather in city number {n}? " * 2))
        if n % 10 == 0:
            lines.append({"type": "message", "id": f"t{n}", "timestamp": iso_now(), "message": {
                "role": "assistant", "content": [{"type": "toolCall", "id": f"c{n}", "name": "web_fetch",
                                                  "arguments": {"url": f"https://example.com/{n}"}}],
                "usage": {"input": 900, "output": 30, "totalTokens": 930}, "provider": "p", "model": "m"}})
            lines.append({"type": "message", "id": f"r{n}", "timestamp": iso_now(), "message": {
                "role": "toolResult", "toolCallId": f"c{n}", "toolName": "web_fetch",
                "content": [{"type": "text", "text": "sunny " * 100}]}})
        lines.append(message_line("assistant", f"In city {n} it is sunny, 21 degrees, light wind from the west.",
                                  usage={"input": 1000, "output": 25, "totalTokens": 1025}, provider="p", model="m"))
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


async def bench_compaction(root: Path, rounds: int) -> dict[str, float]:
    summarized, truncated, scanned = [], [], []
    for index in range(max(5, rounds // 20)):
        folder = root / f"sessions{index}"
        folder.mkdir()
        store = SessionStore(folder / "sessions.json")
        path = folder / "bench.jsonl"
        long_session(path)
        start = time.perf_counter()
        summarize(
            [SessionSource("main", folder, {"bench": "agent:main:main"})], Config(), days=30,
            now_ms=int(time.time() * 1000))
        scanned.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        result = await summarize_session(store, path, InstantModel(), "m", keep_tokens=20_000)
        summarized.append((time.perf_counter() - start) * 1000)
        assert result.compacted, result
        long_session(path)
        start = time.perf_counter()
        assert (await truncate(store, path, 400)).compacted
        truncated.append((time.perf_counter() - start) * 1000)
    return {"compact_summary_p50_ms": statistics.median(summarized), "compact_summary_p99_ms": pct(summarized, 0.99),
            "compact_truncate_p50_ms": statistics.median(truncated), "compact_truncate_p99_ms": pct(truncated, 0.99),
            "usage_scan_p50_ms": statistics.median(scanned), "usage_scan_p99_ms": pct(scanned, 0.99)}


async def main(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        figures = await bench_prompt(root, rounds)
        figures |= await bench_tools_and_approvals(root, rounds)
        figures |= await bench_compaction(root, rounds)
    print("| figure | p50 ms | p99 ms |\n|---|---|---|")
    for name in ("cold", "warm", "tool", "exec_approved", "exec_no_approval", "compact_summary", "compact_truncate",
                 "usage_scan"):
        print(f"| {name} | {figures[name + '_p50_ms']:.3f} | {figures[name + '_p99_ms']:.3f} |")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    figures = trio.run(main, parser.parse_args().rounds)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "assistant.json").write_text(json.dumps(figures, indent=2) + "\n")
