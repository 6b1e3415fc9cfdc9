"""Draws the library's events on the terminal: the run's progress bar, model download bars, and
one ``enhance: ...`` line on stderr per message or failed file.

The library emits events (:mod:`enhance.events`) and never prints; this is the one place rich is
used. rich is imported only when a bar is drawn, so ``--help`` and piped runs stay light.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import typer

from ..events import DownloadProgress, Event, FileFinished, FilesPlanned

__all__ = ["Renderer"]


class Renderer:
    """An ``on_event`` callback for the commands: lines always, bars only with ``progress``
    (callers pass True on a terminal, unless ``--quiet``). Safe to call from worker threads; use
    it as a context manager so a bar is taken down before the command's last words."""

    def __init__(self, *, progress: bool = False) -> None:
        self.progress = progress
        self._lock = threading.RLock()
        self._bar: Any = None  # the live rich Progress, files or download
        self._files: Any = None  # the files task while the run's bar is live
        self._downloads: dict[str, Any] = {}  # name -> its task on the download bar
        self._started = 0.0
        self._done = 0

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, FilesPlanned):
                self._plan(event)
            elif isinstance(event, FileFinished) and event.status != "skipped":
                self._advance()
            elif isinstance(event, DownloadProgress):
                self._download(event)
            line = event.line
            if line is not None:
                self.say(line)

    def say(self, line: str) -> None:
        """One ``enhance: <line>`` on stderr, above a live bar if there is one."""
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(f"enhance: {line}", markup=False, highlight=False, soft_wrap=True)
            else:
                typer.echo(f"enhance: {line}", err=True)

    def close(self) -> None:
        """Take down a live bar (idempotent)."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
            self._bar, self._files = None, None
            self._downloads.clear()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- the run's bar -----------------------------------------------------------------------

    def _plan(self, event: FilesPlanned) -> None:
        if not self.progress or not event.todo or self._bar is not None:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._files = self._bar.add_task("enhance", total=event.todo, rate="")
        self._started, self._done = time.perf_counter(), 0
        self._bar.start()

    def _advance(self) -> None:
        if self._files is None:
            return
        self._done += 1
        rate = self._done / max(time.perf_counter() - self._started, 1e-9)
        self._bar.update(self._files, advance=1, rate=f"{rate:.2f} img/s")

    # -- downloads ---------------------------------------------------------------------------

    def _download(self, event: DownloadProgress) -> None:
        if not self.progress or self._files is not None:  # one live display at a time
            return
        if event.name not in self._downloads:
            if event.finished:
                return
            if self._bar is None:
                from rich.console import Console
                from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

                columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
                self._bar = Progress(*columns, console=Console(stderr=True), transient=True)
                self._bar.start()
            task = self._bar.add_task(f"downloading {event.name}", total=event.total)
            self._downloads[event.name] = task
        task = self._downloads[event.name]
        self._bar.update(task, completed=event.done, total=event.total)
        if event.finished:
            del self._downloads[event.name]
            self._bar.remove_task(task)
            if not self._downloads:
                self._bar.stop()
                self._bar = None
