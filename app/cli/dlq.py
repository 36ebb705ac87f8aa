"""Operator command ``dlq``: the dead letters summed up by reason, listed, shown one by one,
and redriven to the input topic once each (``app.deadletters`` holds the logic)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click
from faust.cli import AppCommand, option

from app.cli.base import CommandSet
from app.deadletters import DeadLetter, Selection, parse_position, parse_time_ms
from app.settings import Settings, get_settings

__all__ = ["COMMANDS", "dlq"]

COMMANDS = CommandSet()


def _parsed(parse: Callable[[str], Any]) -> Callable[[click.Context, Any, Any], Any]:
    """A click callback turning ``parse``'s ValueError into a usage error."""

    def check(ctx: click.Context, param: Any, value: Any) -> Any:
        try:
            return None if value is None else parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


@COMMANDS.command(
    option("--show", default=None, metavar="PARTITION:OFFSET", callback=_parsed(parse_position),
           help="Show one dead letter whole: reason, error, where it was read, headers, key "
                "and value (JSON)."),
    option("--list", "listing", is_flag=True, default=False,
           help="One line per selected dead letter, instead of the counts."),
    option("--redrive", is_flag=True, default=False,
           help="Send the selected dead letters back to the input topic, each once ever."),
    option("--dry-run", is_flag=True, default=False,
           help="With --redrive: say what would be sent, send nothing."),
    option("--resend-pending", is_flag=True, default=False,
           help="With --redrive: also send letters an interrupted redrive left unconfirmed "
                "(they may have been sent already)."),
    option("--reason", "reasons", multiple=True,
           help="Select this reason (repeat for several), e.g. processing_error."),
    option("--partition", type=int, default=None, help="Select this DLQ partition."),
    option("--from-offset", type=int, default=None, help="Select from this DLQ offset on."),
    option("--to-offset", type=int, default=None, help="Select up to this DLQ offset."),
    option("--since", default=None, callback=_parsed(parse_time_ms), metavar="ISO_TIME",
           help="Select letters dead-lettered at or after this time (UTC if no zone)."),
    option("--until", default=None, callback=_parsed(parse_time_ms), metavar="ISO_TIME",
           help="Select letters dead-lettered before this time (UTC if no zone)."),
)  # fmt: skip
async def dlq(
    self: AppCommand,
    show: tuple[int, int] | None,
    listing: bool,
    redrive: bool,
    dry_run: bool,
    resend_pending: bool,
    reasons: tuple[str, ...],
    partition: int | None,
    from_offset: int | None,
    to_offset: int | None,
    since: int | None,
    until: int | None,
) -> None:
    """The dead-letter topic (STREAMREC_DLQ_TOPIC): counts by reason; with options, a list,
    one letter whole, or a redrive of a selection to the input topic."""
    selection = Selection(frozenset(reasons), partition, from_offset, to_offset, since, until)
    _check_usage(show, listing, redrive, dry_run, resend_pending, selection)
    s = get_settings()
    try:
        if show is not None:
            await _show(self, s, show)
        elif redrive:
            await _redrive(self, s, selection, dry_run=dry_run, resend_pending=resend_pending)
        else:
            await _summary(self, s, selection, listing=listing)
    except Exception as exc:  # a broker that does not answer, a refused redrive: one line
        print(f"streamrec: dlq: {await _why(exc, s)}", file=sys.stderr)
        raise SystemExit(1) from None


async def _why(exc: Exception, s: Settings) -> str:
    """What went wrong, in one line naming what to check (re-raised if unforeseen)."""
    import asyncio

    from aiokafka.errors import KafkaConnectionError, KafkaError

    from app.errors import CannotStart, StreamrecError
    from app.kafka.brokers import Brokers
    from app.worker.preflight import check_broker_access

    if not isinstance(exc, KafkaError | StreamrecError | OSError):
        raise exc
    brokers = Brokers.from_settings(s)
    if isinstance(exc, KafkaConnectionError):
        try:  # the worker's start-up check says which setting a refusal points at
            await asyncio.to_thread(check_broker_access, brokers)
        except CannotStart as refused:
            return f"{refused} (STREAMREC_BROKER={s.broker})"
    return f"{exc or type(exc).__name__} (brokers {brokers})"


def _check_usage(
    show: object, listing: bool, redrive: bool, dry_run: bool, resend: bool, selection: Selection
) -> None:
    """End with one line (exit code 2) on options that do not go together."""
    problem = ""
    if show is not None and (listing or redrive or not selection.empty):
        problem = "--show goes alone"
    elif redrive and listing:
        problem = "--list and --redrive do not go together (--redrive --dry-run lists)"
    elif (dry_run or resend) and not redrive:
        problem = "--dry-run and --resend-pending go with --redrive"
    elif redrive and selection.empty:
        problem = ("say what to redrive: --reason, --since/--until, --partition or "
                   "--from-offset/--to-offset (e.g. --reason processing_error)")  # fmt: skip
    if problem:
        print(f"streamrec: dlq: {problem}", file=sys.stderr)
        raise SystemExit(2)


async def _summary(self: AppCommand, s: Settings, selection: Selection, *, listing: bool) -> None:
    """Counts by reason (or one line per letter) of the selected letters, and how many of
    them were redriven already."""
    from app.deadletters import marker_topic
    from app.deadletters.letters import Summary, iso_ms
    from app.deadletters.reader import read_letters, read_markers
    from app.kafka.brokers import Brokers

    brokers = Brokers.from_settings(s)
    markers = await read_markers(brokers, marker_topic(s.dlq_topic))
    summary = Summary(position for position, state in markers.items() if state == "sent")
    lines = []
    async for letter in read_letters(brokers, s.dlq_topic):
        if selection.matches(letter):
            summary.add(letter)
            if listing:  # one line each: a large topic is not held whole
                lines.append(_line(letter, sent=letter.position in summary.redriven))
    counts = summary.by_reason
    what = "" if selection.empty else f" ({selection.describe()})"
    total = sum(n.records for n in counts.values())
    self.say(f"{s.dlq_topic}: {total} dead letter(s){what}, read to its end as of now")
    if listing or not counts:
        for line in lines:
            self.say(line)
        return
    width = max(len("reason"), *map(len, counts))
    self.say(f"{'reason':<{width}}  {'records':>7}  {'redriven':>8}  "
             f"{'first':<24}  last")  # fmt: skip
    for reason, n in counts.items():
        self.say(f"{reason:<{width}}  {n.records:>7}  {n.redriven:>8}  "
                 f"{iso_ms(n.first_ms):<24}  {iso_ms(n.last_ms)}")  # fmt: skip


def _line(letter: DeadLetter, *, sent: bool = False) -> str:
    """One dead letter on one line: position, time, reason, key, error."""
    from app.deadletters.headers import ERROR_MESSAGE
    from app.deadletters.letters import iso_ms

    error = (letter.header(ERROR_MESSAGE) or "").replace("\n", " ")
    again = f" [redriven {letter.redrive_count}x before]" if letter.redrive_count else ""
    done = " [sent back already]" if sent else ""
    return (f"{letter.partition}:{letter.offset}  {iso_ms(letter.timestamp_ms)}  "
            f"{letter.reason}  key {_key(letter.key)}  {error[:120]}{again}{done}")  # fmt: skip


def _key(key: bytes | None) -> str:
    try:
        return "none" if key is None else repr(key.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(key)


async def _show(self: AppCommand, s: Settings, position: tuple[int, int]) -> None:
    """The dead letter at ``position``, whole, as JSON; exit 1 if there is none."""
    import msgspec

    from app.deadletters.reader import read_letter_at
    from app.kafka.brokers import Brokers

    partition, offset = position
    found = await read_letter_at(Brokers.from_settings(s), s.dlq_topic, partition, offset)
    if found is None:
        print(f"streamrec: dlq: no dead letter at {position[0]}:{position[1]} of {s.dlq_topic} "
              "(the summary's --list shows the positions there are)", file=sys.stderr)  # fmt: skip
        raise SystemExit(1)
    text = msgspec.json.format(msgspec.json.encode(found.describe(s.dlq_topic)), indent=2)
    self.say(text.decode())


async def _redrive(
    self: AppCommand, s: Settings, selection: Selection, *, dry_run: bool, resend_pending: bool
) -> None:
    """Send the selected dead letters not sent before to the input topic, or say what would
    be sent (``dry_run``)."""
    from app.deadletters import marker_topic, plan_redrive
    from app.deadletters.reader import read_letters, read_markers
    from app.deadletters.resend import resend
    from app.kafka.brokers import Brokers
    from app.kafka.partitioners import KeyPartitioner

    brokers = Brokers.from_settings(s)
    markers = await read_markers(brokers, marker_topic(s.dlq_topic))
    # Only the selected letters are kept: a large topic is not held whole.
    letters = [x async for x in read_letters(brokers, s.dlq_topic) if selection.matches(x)]
    plan = plan_redrive(letters, selection, markers, resend_pending=resend_pending)
    verb = "would redrive" if dry_run else "redriving"
    self.say(f"{verb} {len(plan.send)} dead letter(s) of {s.dlq_topic} "
             f"({selection.describe()}) to {s.input_topic}")  # fmt: skip
    for letter in plan.send if dry_run else ():
        self.say("  " + _line(letter))
    if plan.sent_before:
        self.say(f"{len(plan.sent_before)} selected dead letter(s) were redriven before: "
                 "not sent again")  # fmt: skip
    if plan.unsure:
        self.say(f"{len(plan.unsure)} selected dead letter(s) were left unconfirmed by an "
                 "interrupted redrive (they may have been sent): not sent; see them in the input "
                 "topic by their streamrec.redrive.* headers, or add --resend-pending")  # fmt: skip
    if dry_run or not plan.send:
        return
    started = time.monotonic()
    sent = await resend(brokers, plan.send, dlq_topic=s.dlq_topic, input_topic=s.input_topic,
                        partitioner=KeyPartitioner(s.key_partitioner),
                        compression=s.producer_compression)  # fmt: skip
    took = time.monotonic() - started
    self.say(f"redrove {sent} dead letter(s) to {s.input_topic} in {took:.1f} s; "
             f"markers in {marker_topic(s.dlq_topic)}")  # fmt: skip
