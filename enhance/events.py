"""Events: what long library calls report while they work, for their caller to show.

The library never prints and never draws. A call that works through many files (``run_batch``,
``score_files``, ``pick_best``) or downloads a model (:func:`enhance.models.fetch`) reports what
happens as events to the callback its caller passes (``on_event``); with none, nothing is shown
and nothing terminal-related is imported. The command line renders them (a progress bar, one
line per message or failed file: :mod:`enhance.commands._render`); a program may log them
(``on_event=text_lines(log.info)``), count them or drive its own progress display.

Every event is a small frozen dataclass; its ``line`` is the one line a text log shows for it,
or None when it has none (progress). The events of a file run are: :class:`FilesPlanned` once,
then one :class:`FileFinished` per file (``done``, ``failed`` or ``skipped``, with the record
that goes to the manifest), with :class:`Notice` lines in between; a download sends
:class:`DownloadProgress` as bytes arrive and once more when it ends.

Work that a caller does not call directly (the model download a pipeline's set-up may start)
reports to the callback installed with :func:`listening`, which ``run_batch`` does for its own.
A callback may be called from worker threads: keep it quick and thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DownloadProgress",
    "Event",
    "EventSink",
    "FileFinished",
    "FilesPlanned",
    "Notice",
    "emitter",
    "listening",
    "text_lines",
]


class Event:
    """Base of every event."""

    @property
    def line(self) -> str | None:
        """The one line a text log shows for this event (None: nothing to say in words)."""
        return None


#: what receives events: any callable taking one
EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class Notice(Event):
    """A message for a person: ``info`` (said as it is), ``warning`` or ``error`` (prefixed so)."""

    level: Literal["info", "warning", "error"]
    text: str

    @property
    def line(self) -> str:
        return self.text if self.level == "info" else f"{self.level}: {self.text}"


@dataclass(frozen=True)
class FilesPlanned(Event):
    """How many files a run will work on (``todo``), and how many it skips as done before."""

    todo: int
    skipped: int = 0


@dataclass(frozen=True)
class FileFinished(Event):
    """One file's outcome: its record, as the manifest will hold it (``status`` is ``done``,
    ``failed`` or ``skipped``; a failed record's ``error`` is its one-line reason)."""

    record: Mapping[str, Any]

    @property
    def status(self) -> str:
        return str(self.record["status"])

    @property
    def line(self) -> str | None:
        return f"failed: {self.record['error']}" if self.status == "failed" else None


@dataclass(frozen=True)
class DownloadProgress(Event):
    """``done`` bytes of ``name`` downloaded out of ``total`` (None: unknown); ``finished`` once
    the transfer ended, whether it succeeded or not."""

    name: str
    done: int
    total: int | None
    finished: bool = False


def text_lines(sink: Callable[[str], None]) -> EventSink:
    """A callback that hands each event's line (those that have one) to ``sink``: ``print``,
    a logger's method, ``list.append``."""

    def forward(event: Event) -> None:
        line = event.line
        if line is not None:
            sink(line)

    return forward


_listener: ContextVar[EventSink | None] = ContextVar("enhance_event_listener", default=None)


@contextmanager
def listening(sink: EventSink | None) -> Iterator[None]:
    """Send the events of work started inside this block (in this thread or task) that was given
    no callback of its own to ``sink``; None keeps whatever an outer block installed."""
    if sink is None:
        yield
        return
    token = _listener.set(sink)
    try:
        yield
    finally:
        _listener.reset(token)


def _ignore(event: Event) -> None:
    """Where events go when nobody listens."""


def emitter(on_event: EventSink | None = None) -> EventSink:
    """Where a call sends its events: ``on_event`` when given, else the callback installed by
    :func:`listening`, else nowhere."""
    if on_event is not None:
        return on_event
    return _listener.get() or _ignore
