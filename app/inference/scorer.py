"""Scoring seam: a ``Scorer`` protocol and the onnxruntime implementation behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.errors import ModelLoadError
from app.features import FEATURE_KIND, MAX_RECENT
from app.inference.manifest import ModelManifest, read_manifest

__all__ = ["OnnxScorer", "Scorer"]


_ORT_TYPES = {"INT64": "tensor(int64)", "FP32": "tensor(float)"}


class Scorer(Protocol):
    """Scores items for a batch of users; one call per micro-batch."""

    @property
    def manifest(self) -> ModelManifest:
        """What the model is and what it reads."""
        ...

    @property
    def items(self) -> Sequence[str]:
        """Item id of each score column (column 0 is padding)."""
        ...

    @property
    def vocab(self) -> Mapping[str, int]:
        """Score column of each item id."""
        ...

    def score(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Scores [batch, n_items + 1] for a left-padded history matrix [batch, max_len]."""
        ...

    async def score_async(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """``score`` on the scorer's own thread, so the event loop keeps serving."""
        ...


class OnnxScorer:
    """An onnxruntime session plus the item vocabulary of one model version."""

    def __init__(self, version_dir: Path, *, threads: int = 1) -> None:
        self.path = version_dir
        self.manifest = read_manifest(version_dir)
        try:
            raw = msgspec.json.decode((version_dir / self.manifest.items_file).read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise ModelLoadError(f"cannot read item vocabulary in {version_dir}: {exc}") from exc
        # Index 0 is padding; item ``items[i]`` is column i of the score matrix.
        self.items: list[str] = ["", *(str(i) for i in raw)]
        self.vocab: dict[str, int] = {item: i for i, item in enumerate(self.items) if i}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(version_dir / self.manifest.model_file),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"onnxruntime cannot load {version_dir}: {exc}") from exc
        self._check_signature()
        self._input = self.manifest.inputs[0].name
        self._output = self.manifest.outputs[0].name
        # One thread: session.run releases the GIL, and batches are scored in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx")

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    def _check_signature(self) -> None:
        got_in = {i.name: i.type for i in self.session.get_inputs()}
        got_out = {o.name: o.type for o in self.session.get_outputs()}
        for spec, got in [(s, got_in) for s in self.manifest.inputs] + [
            (s, got_out) for s in self.manifest.outputs
        ]:
            if got.get(spec.name) != _ORT_TYPES.get(spec.datatype):
                raise ModelLoadError(
                    f"{self.path}: graph tensor {spec.name!r} is {got.get(spec.name)}, "
                    f"manifest says {spec.datatype}"
                )
        if len(self.manifest.inputs) != 1 or len(self.manifest.outputs) != 1:
            raise ModelLoadError(f"{self.path}: expected one input and one output tensor")
        # The stream builds one input: the last max_len item columns, left-padded.
        features = self.manifest.feature_spec
        if features.kind != FEATURE_KIND or not 1 <= features.max_len <= MAX_RECENT:
            raise ModelLoadError(
                f"{self.path}: feature spec {features.kind}/{features.max_len} is not what the "
                f"stream produces ({FEATURE_KIND}, max_len 1..{MAX_RECENT})"
            )
        graph_shape = self.session.get_inputs()[0].shape
        width = graph_shape[1] if len(graph_shape) == 2 else None
        fixed_width = isinstance(width, int)  # a name ("len") or None: dynamic, any fits
        if len(graph_shape) != 2 or (fixed_width and width != features.max_len):
            raise ModelLoadError(
                f"{self.path}: graph input shape {graph_shape}, feature spec gives "
                f"[batch, {features.max_len}]"
            )

    def score(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out = self.session.run([self._output], {self._input: history})[0]
        return np.asarray(out, dtype=np.float32)

    async def score_async(self, history: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.score, history)

    def warm_up(self) -> None:
        """Run a few batch shapes once and check the output width against the vocabulary."""
        max_len = self.manifest.feature_spec.max_len
        for batch in (1, 8, 64):
            history = np.zeros((batch, max_len), dtype=np.int64)
            history[:, -1] = 1 + np.arange(batch) % (len(self.items) - 1)
            scores = self.score(history)
            if scores.shape != (batch, len(self.items)):
                raise ModelLoadError(
                    f"{self.path}: scores shape {scores.shape}, expected "
                    f"({batch}, {len(self.items)}) for {len(self.items) - 1} items"
                )
            if not np.isfinite(scores).all():
                raise ModelLoadError(f"{self.path}: warm-up produced non-finite scores")

    def close(self) -> None:
        self._executor.shutdown(wait=False)
