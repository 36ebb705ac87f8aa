"""``faust -A app bench``: throughput, latency and footprint of the pipeline, against references."""
