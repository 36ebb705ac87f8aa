"""The gRPC service answers from the same worker context as the REST handlers."""

from tests.unit.http.conftest import context_factory

__all__ = ["context_factory"]
