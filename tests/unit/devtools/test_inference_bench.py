"""The inference bench's pieces that need no worker: wrk's output read, the report section."""

from __future__ import annotations

from devtools.bench.inference import parse_wrk
from devtools.bench.inference_report import inference_section

WRK = """Running 10s test @ http://127.0.0.1:6066/v2/models/hybrid/infer
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.90ms    1.01ms  21.30ms   88.12%
    Req/Sec     2.01k   101.22     2.21k    71.00%
  Latency Distribution
     50%    3.81ms
     75%    4.20ms
     90%    4.79ms
     99%  812.00us
  40123 requests in 10.01s, 30.12MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   4008.21
Transfer/sec:      3.01MB
"""


def test_wrk_output_gives_the_rate_the_percentiles_in_ms_and_the_errors() -> None:
    assert parse_wrk(WRK) == {"requests_per_s": 4008.21, "p50_ms": 3.81, "p99_ms": 0.812,
                              "errors": 7.0}  # fmt: skip


def row(transport: str, clients: int, rate: float) -> dict[str, object]:
    return {"transport": transport, "clients": clients, "requests_per_s": rate, "p50_ms": 1.0,
            "p99_ms": 2.0, "errors": 0.0, "cores": {"worker": 0.9, "load": 0.1}}  # fmt: skip


def test_the_section_has_a_row_per_run_and_the_batching_gain() -> None:
    found = {
        "plan": {"items": ["1", "2", "3"], "top_k": 10, "seconds": 10.0, "clients": [1, 64]},
        "model": "hybrid",
        "rows": [row("rest_json", 1, 1000.0), row("rest_json", 64, 4000.0), row("grpc", 64, 2500)],
        "unbatched": row("rest_json", 64, 1000.0),
    }
    lines = inference_section(found)
    assert "| REST, JSON | 64 | 4,000 | 1.0 | 2.0 | 0 | 0.90 / 0.10 |" in lines
    assert "| gRPC | 64 | 2,500 |" in lines[-3]
    assert lines[-1].endswith("with each request scored alone (STREAMREC_MAX_BATCH=1): 4.00x.")
    assert inference_section({"skipped": "wrk is not installed"})[-1] == (
        "Skipped: wrk is not installed."
    )
