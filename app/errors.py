"""streamrec's error hierarchy: one root, small subclasses that say what an operator does."""

from __future__ import annotations

__all__ = [
    "BrokerDataLost",
    "BrokerUnavailable",
    "CannotStart",
    "InvalidInteraction",
    "InvalidRequest",
    "InvalidSettings",
    "ModelLoadError",
    "ModelNotFound",
    "ModelNotReady",
    "OutputInSourceTree",
    "RedriveRefused",
    "RetrainRefused",
    "RolloutRefused",
    "StreamrecError",
    "TrainingUnavailable",
]


class StreamrecError(Exception):
    """Root of every error streamrec raises on purpose."""


class InvalidSettings(StreamrecError):
    """One or more STREAMREC_* settings are invalid, so the worker does not start.

    Operator action: fix the variables named in the message (each line gives the value found
    and what is allowed); docs/configuration.md documents every one.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CannotStart(StreamrecError):
    """Something the worker needs before it can start is missing (data dir, broker).

    Operator action: the message names what was tried and what to check.
    """


class InvalidInteraction(StreamrecError):
    """An input record breaks the input contract; it goes to the dead-letter topic.

    ``reason`` is a short stable code (a metric label and a DLQ header).
    Operator action: none for the worker; fix the producer named by the DLQ headers.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ModelNotFound(StreamrecError):
    """No servable model version exists under the model directory.

    Operator action: run ``faust -A app train`` or point STREAMREC_MODEL_DIR /
    STREAMREC_MODEL_NAME at a directory holding ``<name>/<version>/model-settings.json``.
    """


class ModelLoadError(StreamrecError):
    """A model version exists but cannot be loaded or fails its smoke test.

    Operator action: check the manifest and model.onnx of the version named in the message;
    the previously served version (if any) keeps serving.
    """


class RolloutRefused(StreamrecError):
    """A rollout command does not fit the deployment's rollout state (promoting or aborting
    a version that is not the canary, a malformed canary, a replayed command).

    Operator action: read the state with ``faust -A app models`` and send a command for it;
    nothing changed.
    """


class RetrainRefused(StreamrecError):
    """``retrain`` did not publish a version: the topic held no usable interactions, or the
    new version scores worse offline than the one serving, on the same held-out events.

    Operator action: none needed (the serving version stays); to publish anyway, train
    with more data or another algorithm and retrain again.
    """


class OutputInSourceTree(StreamrecError):
    """``retrain`` would write its version into a git checkout's committed model directory.

    Operator action: point STREAMREC_MODEL_DIR (the workers' and retrain's) at a directory
    outside the checkout's tracked files, e.g. a copy of ``models/`` in ``var/models``; or pass
    ``--into-source-tree`` to write there on purpose.
    """


class TrainingUnavailable(StreamrecError):
    """An algorithm needs what this installation lacks (PyTorch for sasrec and hybrid).

    Operator action: install the train extra (``pip install -e '.[train]'``; ``make train``
    does), or train itemsvd.
    """


class BrokerUnavailable(StreamrecError):
    """The Kafka broker did not answer in time.

    Operator action: check STREAMREC_BROKER and that the broker is up
    (``faust -A app broker`` starts the embedded one for development).
    """


class BrokerDataLost(StreamrecError):
    """The broker no longer has the changelog records this worker's tables were built from
    (it came back empty, or the topics were deleted and made again): the state in
    STREAMREC_DATA_DIR is ahead of it. The worker exits with code 1 instead of serving state
    the broker cannot back (Faust's ConsistencyError).

    Operator action: move STREAMREC_DATA_DIR aside (or delete it) and start the worker again;
    it rebuilds its tables from what the broker holds now. Users whose events the broker lost
    start from scratch.
    """


class ModelNotReady(StreamrecError):
    """A request came before any model version was loaded (the worker is starting).

    Operator action: none if it passes; otherwise see why no version loads (worker log,
    ``streamrec_model_loads_total{result="failure"}``).
    """


class InvalidRequest(StreamrecError):
    """An inference API request breaks the Open Inference Protocol contract.

    Operator action: none; the caller fixes its request (the message says what is wrong).
    """


class RedriveRefused(StreamrecError):
    """``faust -A app dlq --redrive`` cannot keep its promise to send each dead letter once
    (the marker topic beside the dead-letter topic cannot be created or written).

    Operator action: the message names the topic; create it by hand (1 partition,
    ``cleanup.policy=compact``) or grant the client the right to, and run the redrive again.
    Nothing was sent.
    """
