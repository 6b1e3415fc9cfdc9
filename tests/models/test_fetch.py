"""Finding and downloading models: resolution order, sha256 checks, atomic writes, clear errors.

Downloads go to a local HTTP server on 127.0.0.1 (``$ENHANCE_MODEL_BASE_URL`` points zoo URLs at
it); 'no network' is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import enhance.models.fetch as fetch_module
from enhance.errors import ConfigError
from enhance.files import is_temp_name
from enhance.models import zoo
from enhance.models.fetch import check_file, download, fetch, resolve_model, search_dirs
from enhance.models.zoo import ModelEntry
from tests.sr_models import isolate_model_places, save_pth, serve, tiny_compact_state

NAME = "tiny-test-x4"


def entry(sha256: tuple[str, ...] = (), name: str = NAME, arch: str = "Compact", scale: int = 4) -> ModelEntry:
    return ModelEntry(
        name=name, arch=arch, scale=scale, url=f"https://example.invalid/v0/{name}.pth", size=None,
        sha256=sha256, sha256_source="test", license="BSD-3-Clause", kind="general", notes="test model",
    )  # fmt: skip


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Isolated cwd, $ENHANCE_WEIGHTS, user cache and server folder; no real network."""
    dirs = isolate_model_places(tmp_path, monkeypatch)
    return dirs


def served_model(folder: Path, name: str = NAME, **kwargs) -> tuple[Path, str]:
    path = save_pth(folder / f"{name}.pth", tiny_compact_state(**kwargs))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_search_order_is_cwd_weights_then_env_then_cache(places: dict[str, Path]) -> None:
    assert search_dirs() == [places["cwd"] / "weights", places["env"], places["cache"]]


def test_resolution_prefers_an_explicit_path_then_weights_then_env_then_cache(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(zoo.ZOO, NAME, entry())
    copies = {}
    for where in ("cache", "env", "weights"):
        folder = places["cwd"] / "weights" if where == "weights" else places[where]
        copies[where], _ = served_model(folder)
    explicit, _ = served_model(places["server"], name="elsewhere")
    assert resolve_model(explicit) == explicit
    for where in ("weights", "env", "cache"):
        assert resolve_model(NAME) == copies[where]
        copies[where].unlink()
        copies[where].with_name(copies[where].name + ".sha256").unlink()


def test_a_missing_path_and_an_unknown_name_are_config_errors(places: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model("models/nope.pth")
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        resolve_model("nope")


def test_a_pinned_download_is_checked_and_written_atomically(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, digest = served_model(places["server"])
    monkeypatch.setitem(zoo.ZOO, NAME, entry((digest,)))
    with serve(places["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        path = resolve_model(NAME)
    assert path == places["env"] / f"{NAME}.pth"  # $ENHANCE_WEIGHTS receives downloads
    assert leftovers(places["env"]) == [f"{NAME}.pth"]  # no temp file, no sidecar for a pinned model
    assert check_file(zoo.ZOO[NAME], path).status == "pinned"


def test_a_sha256_mismatch_is_refused_and_leaves_nothing_behind(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    served_model(places["server"])
    monkeypatch.setitem(zoo.ZOO, NAME, entry(("0" * 64,)))
    with serve(places["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        with pytest.raises(ConfigError, match=r"was refused: sha256 [0-9a-f]{64}, expected 0{64}; nothing was saved"):
            resolve_model(NAME)
    assert leftovers(places["env"]) == []


def test_an_interrupted_download_leaves_nothing_behind(places: dict[str, Path]) -> None:
    served_model(places["server"])

    def interrupt(path: Path) -> None:
        assert path.exists() and is_temp_name(path.name) and path.suffix == ".pth"
        raise KeyboardInterrupt

    with serve(places["server"]) as url, pytest.raises(KeyboardInterrupt):
        download(f"{url}/{NAME}.pth", places["env"] / f"{NAME}.pth", validate=interrupt)
    assert leftovers(places["env"]) == []


def test_an_unpinned_model_is_trusted_on_first_use_then_checked(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, digest = served_model(places["server"])
    monkeypatch.setitem(zoo.ZOO, NAME, entry())
    with serve(places["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        path = fetch(NAME)
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text().split()[0] == digest
    assert resolve_model(NAME) == path and check_file(zoo.ZOO[NAME], path).status == "recorded"
    save_pth(path, tiny_compact_state(seed=9))  # the file changes under us
    with pytest.raises(ConfigError, match=r"does not match model 'tiny-test-x4'.*delete it"):
        resolve_model(NAME)


def test_a_first_use_download_of_the_wrong_architecture_is_refused(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    served_model(places["server"], scale=2)
    monkeypatch.setitem(zoo.ZOO, NAME, entry())  # the zoo says x4
    with serve(places["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        with pytest.raises(ConfigError, match=r"is a Compact x2 model, expected Compact x4: refused"):
            fetch(NAME)
    assert leftovers(places["env"]) == []


def test_without_network_the_error_names_the_url_and_the_folder(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(zoo.ZOO, NAME, entry())
    with pytest.raises(ConfigError) as info:
        resolve_model(NAME)
    message = str(info.value)
    assert f"/{NAME}.pth" in message and "127.0.0.1" in message and str(places["env"]) in message
    assert "no network" in message and leftovers(places["env"]) == []


def test_offline_mode_does_not_try_the_network(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(zoo.ZOO, NAME, entry())
    monkeypatch.setenv("ENHANCE_OFFLINE", "1")
    monkeypatch.setattr(fetch_module, "download", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(ConfigError, match="downloads are turned off"):
        resolve_model(NAME)


def test_a_local_file_that_fails_its_pin_is_refused(places: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    served_model(places["env"])
    monkeypatch.setitem(zoo.ZOO, NAME, entry(("f" * 64,)))
    with pytest.raises(ConfigError, match=r"sha256 [0-9a-f]{64}, expected f{64}"):
        resolve_model(NAME)


def test_a_download_reports_its_bytes_as_events_and_prints_nothing(
    places: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The library draws no bar: the bytes go to the caller's callback (or to the one installed
    with ``listening``, as for a download a pipeline's set-up starts), and nothing to the terminal."""
    from enhance.events import DownloadProgress, listening

    model, digest = served_model(places["server"])
    size = model.stat().st_size
    monkeypatch.setitem(zoo.ZOO, NAME, entry((digest,)))
    given: list[object] = []
    ambient: list[object] = []
    with serve(places["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        fetch(NAME, on_event=given.append)
        with listening(ambient.append):
            resolve_model(NAME)  # already there: nothing to download, nothing said
            fetch(NAME, force=True)
    for events in (given, ambient):
        assert all(isinstance(e, DownloadProgress) and e.name == f"{NAME}.pth" for e in events)
        assert events[0] == DownloadProgress(f"{NAME}.pth", 0, size)
        assert events[-1] == DownloadProgress(f"{NAME}.pth", size, size, finished=True)
        done = [e.done for e in events]  # type: ignore[attr-defined]
        assert done == sorted(done) and sum(e.finished for e in events) == 1  # type: ignore[attr-defined]
    assert capfd.readouterr() == ("", "")


def test_a_failed_download_still_ends_its_progress(places: dict[str, Path]) -> None:
    from enhance.events import DownloadProgress

    served_model(places["server"])
    events: list[DownloadProgress] = []

    def refuse(path: Path) -> None:
        raise ConfigError("refused")

    with serve(places["server"]) as url, pytest.raises(ConfigError):
        download(f"{url}/{NAME}.pth", places["env"] / f"{NAME}.pth", on_event=events.append, validate=refuse)
    assert events[-1].finished and sum(e.finished for e in events) == 1
