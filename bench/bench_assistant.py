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

from moltbot.agents.prompt import PromptInput, build_system_prompt  # noqa: E402
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
            _tool_call_line("", [], "m", "p")
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


async def main(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        figures = await bench_prompt(root, rounds)
        figures |= await bench_tools_and_approvals(root, rounds)
    print("| figure | p50 ms | p99 ms |\n|---|---|---|")
    for name in ("cold", "warm", "tool", "exec_approved", "exec_no_approval"):
        print(f"| {name} | {figures[name + '_p50_ms']:.3f} | {figures[name + '_p99_ms']:.3f} |")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    figures = trio.run(main, parser.parse_args().rounds)
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "assistant.json").write_text(json.dumps(figures, indent=2) + "\n")
