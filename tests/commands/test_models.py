"""``enhance models list|fetch|verify|info``: offline listing, downloads, checks, exit codes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import enhance.models.fetch as fetch_module
from enhance.cli import app
from enhance.models import zoo
from enhance.models.zoo import ModelEntry
from tests.sr_models import isolate_model_places, save_pth, serve, tiny_compact_state

NAME = "tiny-cli-x4"
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    dirs = isolate_model_places(tmp_path, monkeypatch, weights="weights")
    return dirs


def add_entry(monkeypatch: pytest.MonkeyPatch, sha256: tuple[str, ...]) -> ModelEntry:
    entry = ModelEntry(
        name=NAME, arch="Compact", scale=4, url=f"https://example.invalid/v1/{NAME}.pth", size=None,
        sha256=sha256, sha256_source="test", license="BSD-3-Clause", kind="general", notes="test",
    )  # fmt: skip
    monkeypatch.setitem(zoo.ZOO, NAME, entry)
    return entry


def invoke(*args: str):
    return runner.invoke(app, ["models", *args])


def test_list_works_offline_and_says_what_is_present(env: dict[str, Path]) -> None:
    save_pth(env["weights"] / "realesr-animevideov3.pth", tiny_compact_state())
    result = invoke("list", "--urls")
    assert result.exit_code == 0, result.output
    for name in zoo.ZOO:
        assert name in result.output
    line = next(x for x in result.output.splitlines() if x.startswith("realesr-animevideov3"))
    assert "x4" in line and "Compact" in line and "pinned" in line and str(env["weights"]) in line
    assert "first-use" in result.output and "github.com/xinntao/Real-ESRGAN/releases" not in result.output


def test_fetch_downloads_from_the_server_and_verify_accepts_it(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = save_pth(env["server"] / f"{NAME}.pth", tiny_compact_state())
    add_entry(monkeypatch, (hashlib.sha256(served.read_bytes()).hexdigest(),))
    with serve(env["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        result = invoke("fetch", NAME)
        assert result.exit_code == 0, result.output
        again = invoke("fetch", NAME)
    assert "saved to" in result.output and "present at" in again.output
    assert (env["weights"] / f"{NAME}.pth").read_bytes() == served.read_bytes()
    verify = invoke("verify", NAME)
    assert verify.exit_code == 0 and "ok (pinned sha256)" in verify.output


def test_fetch_refuses_a_mismatch_and_leaves_nothing(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    save_pth(env["server"] / f"{NAME}.pth", tiny_compact_state())
    add_entry(monkeypatch, ("a" * 64,))
    with serve(env["server"]) as url:
        monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", url)
        result = invoke("fetch", NAME)
    assert result.exit_code == 2 and "refused" in result.output
    assert list(env["weights"].iterdir()) == []


def test_fetch_without_network_exits_2_naming_the_url_and_folder(env: dict[str, Path]) -> None:
    result = invoke("fetch", "realesr-general-x4v3")
    assert result.exit_code == 2
    assert "realesr-general-x4v3.pth" in result.output and str(env["weights"]) in result.output
    assert "Traceback" not in result.output


def test_fetch_with_dest_names_that_folder_when_it_fails(env: dict[str, Path], tmp_path: Path) -> None:
    result = invoke("fetch", "realesr-general-x4v3", "--dest", str(tmp_path / "mine"))
    assert result.exit_code == 2 and str(tmp_path / "mine") in result.output


def test_fetch_honours_offline_mode(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENHANCE_OFFLINE", "1")
    monkeypatch.setattr(fetch_module, "download", lambda *a, **k: pytest.fail("tried to download"))
    result = invoke("fetch", "realesr-general-x4v3")
    assert result.exit_code == 2 and "downloads are turned off" in result.output


def test_a_folder_that_cannot_be_written_is_a_clear_error(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fetch_module, "download", refuse)
    result = invoke("fetch", "realesr-general-x4v3")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot save model 'realesr-general-x4v3'" in result.output and "Permission denied" in result.output


def test_fetch_an_unknown_model_exits_2(env: dict[str, Path]) -> None:
    result = invoke("fetch", "RealESRGAN_x16")
    assert result.exit_code == 2 and "unknown model" in result.output


def test_verify_finds_a_damaged_file_and_exits_1(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    save_pth(env["weights"] / "realesr-animevideov3.pth", tiny_compact_state())  # not the real file
    result = invoke("verify")
    assert result.exit_code == 1 and "BAD: sha256 mismatch" in result.output


def test_info_reports_what_spandrel_detects(tmp_path: Path) -> None:
    path = save_pth(tmp_path / "m.pth", tiny_compact_state(scale=2))
    result = invoke("info", str(path))
    assert result.exit_code == 0, result.output
    assert "Compact" in result.output and "x2" in result.output and "3 in, 3 out" in result.output


def test_info_refuses_a_checkpoint_with_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"params": tiny_compact_state(), "x": Payload()}, tmp_path / "evil.pth")
    result = invoke("info", str(tmp_path / "evil.pth"))
    assert result.exit_code == 2 and "refused" in result.output and not marker.exists()
