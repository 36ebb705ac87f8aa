"""Admin authentication: bearer tokens and command signatures."""

from __future__ import annotations

import pytest

from app.rollout.admin import ENABLE_HINT, AdminAuth


def test_bearer_tokens_are_checked_and_a_missing_configuration_disables_admin() -> None:
    auth = AdminAuth("s3cret")
    assert auth.check_bearer("Bearer s3cret") is None
    assert auth.check_bearer("bearer  s3cret ") is None
    for header, reason in ((None, "missing"), ("", "missing"), ("Basic s3cret", "missing"),
                           ("Bearer", "missing"), ("Bearer s3cre", "wrong"),
                           ("Bearer s3cret2", "wrong"),
                           # what aiohttp makes of header bytes that are not UTF-8
                           ("Bearer s3cr\udcff", "wrong")):  # fmt: skip
        denied = auth.check_bearer(header)
        assert denied is not None and denied.reason == reason, header
        assert "s3cret" not in denied.message
    disabled = AdminAuth(None).check_bearer("Bearer s3cret")
    assert disabled is not None and disabled.reason == "admin_disabled"
    assert "STREAMREC_ADMIN_TOKEN" in disabled.message == ENABLE_HINT


def test_a_signature_covers_the_content_and_the_time() -> None:
    auth = AdminAuth("k", max_age_s=10)
    sig = auth.sign(b"itemsvd\nreload", 1000.0)
    assert auth.verify(b"itemsvd\nreload", 1000.0, sig, now=1005.0) is None
    assert auth.verify(b"itemsvd\nrollback", 1000.0, sig, now=1005.0).reason == "bad_signature"  # type: ignore[union-attr]
    assert auth.verify(b"itemsvd\nreload", 1001.0, sig, now=1005.0).reason == "bad_signature"  # type: ignore[union-attr]
    assert auth.verify(b"itemsvd\nreload", 1000.0, sig, now=1011.0).reason == "stale"  # type: ignore[union-attr]
    assert auth.verify(b"itemsvd\nreload", 1000.0, "", now=1000.0).reason == "unsigned"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="admin is disabled"):
        AdminAuth(None).sign(b"x", 1.0)
