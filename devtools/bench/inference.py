"""The inference API under load (issue #40): requests/s and p50 / p99 for REST with JSON,
REST with the binary tensor extension and gRPC, at 1, 16 and 64 concurrent clients, and what
batching concurrent requests into one model call gains.

REST load is wrk's (C, at most two threads); gRPC load is Python processes (``grpc_load``), at
most two, each with its share of the clients. Each row says how many cores the worker and the
load used, so a load generator that saturated first shows. Every request is a different
history (fixed items plus two random ones out of MovieLens' 1,682), so the prediction cache
answers few of them: the figures are the API's own path (parse, batch, score, answer).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devtools.bench.procstat import cpu_seconds
from devtools.net import free_port
from devtools.processes import PROJECT_ROOT

__all__ = ["InferencePlan", "parse_wrk", "run_inference"]

FreshBroker = Callable[[Path, str], AbstractAsyncContextManager[tuple[Any, int]]]

ITEMS = 1682
"""MovieLens-100k's item ids: 1..ITEMS."""

# One request per call of request(): a history of the plan's items and two random ones, as
# JSON, or (binary) as the JSON header and the length-prefixed ids after it.
_LUA = """
local fixed = {{{items}}}
local top_k = {top_k}
local binary = {binary}
math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
local function le32(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, 0)
end
request = function()
  local items = {{}}
  for i, v in ipairs(fixed) do items[i] = v end
  items[#items + 1] = tostring(math.random({n_items}))
  items[#items + 1] = tostring(math.random({n_items}))
  if not binary then
    local quoted = {{}}
    for i, v in ipairs(items) do quoted[i] = '"' .. v .. '"' end
    local body = '{{"inputs": [{{"name": "history", "shape": [' .. #items ..
      '], "datatype": "BYTES", "data": [' .. table.concat(quoted, ",") ..
      ']}}], "parameters": {{"top_k": ' .. top_k .. '}}}}'
    return wrk.format("POST", nil, {{["Content-Type"] = "application/json"}}, body)
  end
  local raw = {{}}
  for i, v in ipairs(items) do raw[i] = le32(#v) .. v end
  raw = table.concat(raw)
  local header = '{{"inputs": [{{"name": "history", "shape": [' .. #items ..
    '], "datatype": "BYTES", "parameters": {{"binary_data_size": ' .. #raw ..
    '}}}}], "parameters": {{"top_k": ' .. top_k .. ', "binary_data_output": true}}}}'
  return wrk.format("POST", nil, {{
    ["Content-Type"] = "application/octet-stream",
    ["Inference-Header-Content-Length"] = tostring(#header)}}, header .. raw)
end
"""


@dataclass(frozen=True)
class InferencePlan:
    clients: tuple[int, ...] = (1, 16, 64)
    seconds: float = 10.0
    items: tuple[str, ...] = ("50", "172", "133")
    """The start of every request's history (MovieLens item ids); two random ones follow."""
    top_k: int = 10


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, float]:
    """requests_per_s, p50_ms, p99_ms and errors (non-2xx, socket errors) from ``wrk
    --latency``'s output."""

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if found is None:
            raise ValueError(f"no {label}% latency in wrk's output:\n{text}")
        return float(found[1]) * _UNITS[found[2]]

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk's output:\n{text}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        text)  # fmt: skip
    errors = (int(bad[1]) if bad else 0) + (sum(map(int, sockets.groups())) if sockets else 0)
    return {"requests_per_s": float(rate[1]), "p50_ms": ms("50"), "p99_ms": ms("99"),
            "errors": float(errors)}  # fmt: skip


def _wrk(url: str, script: Path, clients: int, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds:g}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    return parse_wrk(out.stdout)


def _grpc(target: str, plan: InferencePlan, model: str, clients: int) -> dict[str, float]:
    """The gRPC load processes' figures, merged."""
    processes = min(2, clients)
    shares = [clients // processes + (n < clients % processes) for n in range(processes)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}

    def command(share: int) -> list[str]:
        return [sys.executable, "-m", "devtools.bench.grpc_load", target, str(share),
                f"{plan.seconds:g}", model, str(plan.top_k), str(ITEMS), *plan.items]  # fmt: skip

    procs = [
        subprocess.Popen(command(share), stdout=subprocess.PIPE, env=env, cwd=PROJECT_ROOT)
        for share in shares
    ]
    latencies: list[float] = []
    errors = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=plan.seconds + 120)
        found = json.loads(out)
        latencies += found["latencies_ms"]
        errors += found["errors"]
    p50, p99 = np.percentile(np.array(latencies or [float("nan")]), [50, 99])
    return {"requests_per_s": len(latencies) / plan.seconds, "p50_ms": float(p50),
            "p99_ms": float(p99), "errors": float(errors)}  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk, the gRPC load processes)."""
    t = os.times()
    return t.children_user + t.children_system


async def _measure(
    started: tuple[Any, int, str], plan: InferencePlan, scripts: dict[str, Path],
    transport: str, clients: int,
) -> dict[str, Any]:  # fmt: skip
    worker, grpc_port, model = started
    pid = worker.process.pid
    cpu0, load0, t0 = cpu_seconds(pid), _children_cpu(), time.monotonic()
    if transport == "grpc":
        row = await asyncio.to_thread(_grpc, f"127.0.0.1:{grpc_port}", plan, model, clients)
    else:
        url = f"{worker.web_url}/v2/models/{model}/infer"
        row = await asyncio.to_thread(_wrk, url, scripts[transport], clients, plan.seconds)
    elapsed = time.monotonic() - t0
    cores = {"worker": (cpu_seconds(pid) - cpu0) / elapsed,
             "load": (_children_cpu() - load0) / elapsed}  # fmt: skip
    return {"transport": transport, "clients": clients, **row, "cores": cores}


@asynccontextmanager
async def _worker(ns: Any, env: dict[str, str]) -> AsyncIterator[tuple[Any, int, str]]:
    """A worker of the bench namespace ``ns`` with gRPC on: (process, gRPC port, model)."""
    from app.settings import get_settings

    grpc_port = free_port()
    worker = ns.worker(env={**env, "STREAMREC_GRPC_PORT": str(grpc_port)}).start()
    try:
        await asyncio.to_thread(worker.wait_ready, 120)
        yield worker, grpc_port, env.get("STREAMREC_MODEL_NAME", get_settings().model_name)
    finally:
        worker.stop()


async def run_inference(
    root: Path, plan: InferencePlan, fresh_broker: FreshBroker, say: Callable[[str], None]
) -> dict[str, Any]:
    """Every transport at every client count against one worker, then REST JSON at the most
    clients against a worker that scores each request alone (STREAMREC_MAX_BATCH=1)."""
    if shutil.which("wrk") is None:
        say("  skipped: wrk is not installed (Debian: apt-get install wrk)")
        return {"skipped": "wrk is not installed"}
    scripts = {}
    for transport, binary in (("rest_json", "false"), ("rest_binary", "true")):
        scripts[transport] = root / f"{transport}.lua"
        scripts[transport].write_text(_LUA.format(
            items=", ".join(f'"{i}"' for i in plan.items), top_k=plan.top_k, binary=binary,
            n_items=ITEMS,
        ))  # fmt: skip
    out: dict[str, Any] = {"plan": {**vars(plan), "clients": list(plan.clients)}, "rows": []}
    async with fresh_broker(root, "inference") as (ns, _):
        async with _worker(ns, {}) as started:
            out["model"] = started[2]
            for transport in ("rest_json", "rest_binary", "grpc"):
                for clients in plan.clients:
                    row = await _measure(started, plan, scripts, transport, clients)
                    out["rows"].append(row)
                    say(
                        f"  {transport}, {clients} clients: {row['requests_per_s']:,.0f} req/s, "
                        f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, errors "
                        f"{row['errors']:.0f}; cores: worker {row['cores']['worker']:.2f}, "
                        f"load {row['cores']['load']:.2f}"
                    )
        most = max(plan.clients)
        async with _worker(ns, {"STREAMREC_MAX_BATCH": "1"}) as started:
            row = await _measure(started, plan, scripts, "rest_json", most)
            out["unbatched"] = row
            say(
                f"  each request scored alone (MAX_BATCH=1), rest_json, {most} clients: "
                f"{row['requests_per_s']:,.0f} req/s, p99 {row['p99_ms']:.1f} ms"
            )
    return out
