"""``dlq``'s options that do not go together end with one line and exit code 2."""

from __future__ import annotations

import pytest

from app.cli.dlq import _check_usage
from app.deadletters import Selection

ERRORS = Selection(frozenset({"processing_error"}))


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (((0, 1), False, False, False, False, ERRORS), "--show goes alone"),
        ((None, True, True, False, False, ERRORS), "--list and --redrive"),
        ((None, False, False, True, False, Selection()), "go with --redrive"),
        ((None, False, False, False, True, ERRORS), "go with --redrive"),
        ((None, False, True, False, False, Selection()), "say what to redrive: --reason"),
    ],
)
def test_options_that_do_not_go_together_are_refused(
    args: tuple[object, bool, bool, bool, bool, Selection],
    said: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as ended:
        _check_usage(*args)
    assert ended.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("streamrec: dlq: ") and said in err and err.count("\n") == 1


def test_a_selected_redrive_a_listing_and_a_show_are_accepted() -> None:
    _check_usage(None, False, True, True, True, ERRORS)
    _check_usage(None, True, False, False, False, ERRORS)
    _check_usage((0, 1), False, False, False, False, Selection())
