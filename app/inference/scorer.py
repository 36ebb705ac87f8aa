"""Scoring seam: a ``Scorer`` protocol and the onnxruntime implementation behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.errors import ModelLoadError
from app.features.builders import BUILDERS, build_inputs
from app.features.state import MAX_RECENT, state_from_items
from app.inference.manifest import ModelManifest, read_manifest
from app.inference.topk import exhaustive_top_k

if TYPE_CHECKING:  # the batcher imports this module
    from app.inference.batcher import ModelBatch, Ranked

__all__ = ["Inputs", "OnnxScorer", "Scorer", "open_session", "run_batch"]

Inputs = Mapping[str, npt.NDArray[np.int64] | npt.NDArray[np.float32]]
"""Model input arrays by tensor name."""


_ORT_TYPES = {"INT64": "tensor(int64)", "FP32": "tensor(float)"}


class Scorer(Protocol):
    """Scores items for a batch of users; one call per micro-batch."""

    @property
    def name(self) -> str:
        """The model's name (the manifest's)."""
        ...

    @property
    def version(self) -> str:
        """The model version (the manifest's): what an update says answered it."""
        ...

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

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        """Scores [batch, n_items + 1] for the model's inputs by tensor name, each
        [batch, max_len] as ``build_inputs`` makes them."""
        ...

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        """``score`` on the scorer's own thread, so the event loop keeps serving."""
        ...


def open_session(path: Path, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session with ``threads`` intra-op threads, or ModelLoadError."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"onnxruntime cannot load {path}: {exc}") from exc


def run_batch(
    session: ort.InferenceSession, output: str, inputs: Inputs
) -> npt.NDArray[np.float32]:
    """One output of ``session`` for a batch of rows, float32."""
    feed = dict(inputs)
    single = all(len(v) == 1 for v in feed.values())
    if single:
        # onnxruntime multiplies one row with another kernel than a batch (its scores then
        # differ in the last bits: 5e-7 measured), so a user's scores would depend on the
        # batch they fell in. Two copies of the row take the batch kernel.
        feed = {k: np.concatenate([v, v]) for k, v in feed.items()}
    out = session.run([output], feed)[0]
    return np.asarray(out[:1] if single else out, dtype=np.float32)


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
        self.session = open_session(version_dir / self.manifest.model_file, threads)
        self.builders = self.manifest.feature_spec.builders(self.manifest.inputs)
        """Input tensor -> the feature builder that makes it."""
        self._check_signature()
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
        """The graph's tensors are the manifest's, and the stream can build every input."""
        got_in = {i.name: i for i in self.session.get_inputs()}
        got_out = {o.name: o.type for o in self.session.get_outputs()}
        manifest = self.manifest
        for spec in manifest.inputs:
            got = got_in.get(spec.name)
            if got is None or got.type != _ORT_TYPES.get(spec.datatype):
                raise ModelLoadError(
                    f"{self.path}: graph input {spec.name!r} is "
                    f"{got.type if got else 'missing'}, manifest says {spec.datatype}"
                )
        for spec in manifest.outputs:
            if got_out.get(spec.name) != _ORT_TYPES.get(spec.datatype):
                raise ModelLoadError(
                    f"{self.path}: graph output {spec.name!r} is {got_out.get(spec.name)}, "
                    f"manifest says {spec.datatype}"
                )
        if len(manifest.outputs) != 1 or set(got_in) != {i.name for i in manifest.inputs}:
            raise ModelLoadError(
                f"{self.path}: expected one output and the manifest's inputs "
                f"{[i.name for i in manifest.inputs]}, graph has {sorted(got_in)}"
            )
        features = manifest.feature_spec
        if not 1 <= features.max_len <= MAX_RECENT:
            raise ModelLoadError(
                f"{self.path}: feature spec max_len {features.max_len} is not 1..{MAX_RECENT}"
            )
        for spec in manifest.inputs:
            builder = self.builders[spec.name]
            if not builder:
                raise ModelLoadError(
                    f"{self.path}: input {spec.name!r} has no feature builder in the "
                    f"manifest's feature_spec.inputs (one of {', '.join(sorted(BUILDERS))})"
                )
            if builder not in BUILDERS:
                raise ModelLoadError(
                    f"{self.path}: input {spec.name!r} needs feature builder {builder!r}, "
                    f"which the stream does not have (it has {', '.join(sorted(BUILDERS))})"
                )
            if BUILDERS[builder].datatype != spec.datatype:
                raise ModelLoadError(
                    f"{self.path}: input {spec.name!r} is {spec.datatype}, builder {builder!r} "
                    f"makes {BUILDERS[builder].datatype}"
                )
            shape = got_in[spec.name].shape
            width = shape[1] if len(shape) == 2 else None
            fixed_width = isinstance(width, int)  # a name ("len") or None: dynamic, any fits
            if len(shape) != 2 or (fixed_width and width != features.max_len):
                raise ModelLoadError(
                    f"{self.path}: graph input shape {shape} ({spec.name!r}), feature spec "
                    f"gives [batch, {features.max_len}]"
                )

    def score(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        return run_batch(self.session, self._output, inputs)

    async def score_async(self, inputs: Inputs) -> npt.NDArray[np.float32]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.score, inputs)

    def rank(self, batch: ModelBatch, k: int) -> Ranked:
        """Top-``k`` unseen columns per row: every item scored, then the exhaustive cut."""
        return exhaustive_top_k(self.score(batch.inputs), batch.mask_rows, batch.mask_cols, k)

    async def rank_async(self, batch: ModelBatch, k: int) -> Ranked:
        """``rank`` on the scorer's thread: the top-K cut (14 ms a batch at 100k items) is
        off the event loop too."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.rank, batch, k)

    def warm_up(self) -> None:
        """Run a few batch shapes of real inputs once; check the output against the vocabulary."""
        max_len = self.manifest.feature_spec.max_len
        items = self.items[1:]
        for batch in (1, 8, 64):
            states = [state_from_items(items[n % len(items) :][:3]) for n in range(batch)]
            scores = self.score(build_inputs(states, self.builders, self.vocab, max_len))
            if scores.shape != (batch, len(self.items)):
                raise ModelLoadError(
                    f"{self.path}: scores shape {scores.shape}, expected "
                    f"({batch}, {len(self.items)}) for {len(self.items) - 1} items"
                )
            if not np.isfinite(scores).all():
                raise ModelLoadError(f"{self.path}: warm-up produced non-finite scores")

    def close(self) -> None:
        self._executor.shutdown(wait=False)
