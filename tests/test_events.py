"""Events: the lines a text log shows for them, and where a call's events go."""

from __future__ import annotations

from enhance.events import DownloadProgress, FileFinished, FilesPlanned, Notice, emitter, listening, text_lines


def test_each_event_says_its_line_or_nothing() -> None:
    lines: list[str] = []
    sink = text_lines(lines.append)
    for event in (
        FilesPlanned(3, skipped=1),
        Notice("info", "2 file(s) left out"),
        Notice("warning", "journal full"),
        Notice("error", "manifest.json: cannot be written"),
        FileFinished({"status": "done", "error": None}),
        FileFinished({"status": "skipped", "error": None}),
        FileFinished({"status": "failed", "error": "a.png: truncated"}),
        DownloadProgress("m.pth", 10, 100),
    ):
        sink(event)
    assert lines == [
        "2 file(s) left out",
        "warning: journal full",
        "error: manifest.json: cannot be written",
        "failed: a.png: truncated",
    ]


def test_events_go_to_the_given_callback_else_the_installed_one_else_nowhere() -> None:
    given: list[object] = []
    outer: list[object] = []
    inner: list[object] = []
    emitter()(Notice("info", "nobody listens"))  # no error, nowhere
    with listening(outer.append):
        emitter()(Notice("info", "a"))
        emitter(given.append)(Notice("info", "b"))
        with listening(None):  # keeps the outer one
            emitter()(Notice("info", "c"))
        with listening(inner.append):
            emitter()(Notice("info", "d"))
        emitter()(Notice("info", "e"))
    emitter()(Notice("info", "f"))
    text = [[e.text for e in sink] for sink in (given, outer, inner)]  # type: ignore[attr-defined]
    assert text == [["b"], ["a", "c", "e"], ["d"]]
