"""The one table of domain errors' HTTP statuses, and the JSON errors built from it."""

from __future__ import annotations

import msgspec
import pytest

from app.errors import (
    InvalidRequest,
    ModelLoadError,
    ModelNotFound,
    ModelNotReady,
    RetrainRefused,
    StreamrecError,
)
from app.http import errors
from app.rollout.admin import AdminAuth


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidRequest("bad"), 400),
        (ModelNotReady("starting"), 503),
        (ModelNotFound("none"), 409),
        (ModelLoadError("corrupt"), 409),
        (RetrainRefused("not listed"), 500),
        (StreamrecError("not listed"), 500),
    ],
)
def test_each_domain_error_has_its_status(exc: StreamrecError, status: int) -> None:
    assert errors.status_of(exc) == status


def test_a_subclass_has_its_nearest_listed_ancestors_status() -> None:
    class TooLong(InvalidRequest):
        pass

    assert errors.status_of(TooLong("x")) == 400


def test_an_error_answers_json_with_its_message_and_more() -> None:
    response = errors.from_error(ModelLoadError("no earlier version"), serving="1")
    assert (response.status, response.content_type) == (409, "application/json")
    assert response.body == b'{"error":"no earlier version","serving":"1"}'


def test_admin_refusals_are_401_with_the_scheme_or_403_when_admin_is_disabled() -> None:
    missing = AdminAuth("t").check_bearer(None)
    assert missing is not None
    response = errors.denied(missing)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="streamrec admin"'
    disabled = AdminAuth(None).check_bearer("Bearer t")
    assert disabled is not None
    response = errors.denied(disabled)
    assert response.status == 403 and "WWW-Authenticate" not in response.headers
    assert isinstance(response.body, bytes)
    assert "STREAMREC_ADMIN_TOKEN" in msgspec.json.decode(response.body)["error"]
