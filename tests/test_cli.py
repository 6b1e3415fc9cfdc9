"""The command line end to end: exit codes, one-line errors, lazy imports, the acceptance runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin
from typer.testing import CliRunner

from enhance.cli import app
from enhance.stages import Stage, StageParams, register_stage
from tests.conftest import ROOT
from tests.outfolders import held_by_another_process


def enhance(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "enhance", *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300
    )


def generated_folder(folder: Path) -> None:
    """A few 'generated' images: PNG with a prompt chunk, JPEG, RGBA PNG, 16-bit gray PNG."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a lighthouse at dusk, Steps: 20")
    PILImage.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(folder / "a.png", pnginfo=info)
    PILImage.fromarray(rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)).save(folder / "b.jpg", quality=90)
    PILImage.fromarray(rng.integers(0, 256, (40, 60, 4), dtype=np.uint8), "RGBA").save(folder / "c.png")
    PILImage.fromarray(rng.integers(0, 65536, (50, 50), dtype=np.uint16)).save(folder / "d.png")


def small_config(tmp_path: Path) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n"
        "  small:\n"
        "    description: resize only\n"
        "    device: cpu\n"
        "    stages:\n"
        "      - resize: {long_side: 32, method: area}\n"
    )
    return path


@pytest.mark.slow
def test_help_is_fast_path_without_heavy_imports() -> None:
    code = (
        "import sys\n"
        "from enhance.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "try:\n    app(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'cv2', 'PIL', 'spandrel') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]


@pytest.mark.slow
def test_run_resize_only_pipeline_on_generated_folder(tmp_path: Path) -> None:
    generated_folder(tmp_path / "in")
    config = small_config(tmp_path)
    out = enhance("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png", "d.png", "manifest.json"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["summary"] == {"total": 4, "done": 4, "skipped": 0, "failed": 0}
    with PILImage.open(tmp_path / "out" / "a.png") as im:
        assert im.size == (32, 21) and im.text["parameters"] == "a lighthouse at dusk, Steps: 20"
    with PILImage.open(tmp_path / "out" / "c.png") as im:
        assert im.mode == "RGBA"
    assert "4 done, 0 skipped, 0 failed" in out.stderr

    again = enhance("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small")
    assert again.returncode == 0 and "0 done, 4 skipped" in again.stderr


@pytest.mark.slow
def test_run_with_bad_files_exits_1_and_names_them(tmp_path: Path) -> None:
    generated_folder(tmp_path / "in")
    (tmp_path / "in" / "zero.png").write_bytes(b"")
    config = small_config(tmp_path)
    out = enhance("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small")
    assert out.returncode == 1
    failures = [line for line in out.stderr.splitlines() if "failed:" in line]
    assert len(failures) == 1 and "zero.png" in failures[0]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_config_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    stages:\n      - resize: {long_sid: 10}\n")
    (tmp_path / "in").mkdir()
    out = enhance("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(bad), "-p", "p")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "unknown parameter 'long_sid'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists()

    config = small_config(tmp_path)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small"]
    out = enhance(*args, "--device", "x")
    assert out.returncode == 2 and "device 'x' is not valid" in out.stderr

    config = small_config(tmp_path)
    out = enhance("run", str(tmp_path / "nope"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small")
    assert out.returncode == 2 and "input not found" in out.stderr

    out = enhance("run", "-o", str(tmp_path / "out"))
    assert out.returncode == 2  # usage error from the parser


@pytest.mark.slow
def test_set_override_and_dry_run(tmp_path: Path) -> None:
    generated_folder(tmp_path / "in")
    config = small_config(tmp_path)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small"]
    dry = enhance(*args, "--dry-run")
    assert dry.returncode == 0 and "4 file(s); dry run" in dry.stdout and not (tmp_path / "out").exists()
    assert "device cpu; models are not loaded" in dry.stdout
    out = enhance(*args, "--set", "resize.long_side=16", "--set", "output.format=webp", "-q")
    assert out.returncode == 0, out.stderr
    with PILImage.open(tmp_path / "out" / "a.webp") as im:
        assert im.size == (16, 11)
    bad = enhance(*args, "--set", "resize.method=nearest")
    assert bad.returncode == 2 and "method='nearest' is invalid" in bad.stderr


@pytest.mark.slow
def test_pipelines_and_stages_commands(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    listed = enhance("pipelines", "list", "-c", str(config))
    assert listed.returncode == 0 and "small  [resize]  resize only" in listed.stdout
    shown = enhance("pipelines", "show", "small", "-c", str(config))
    assert shown.returncode == 0 and "long_side: 32" in shown.stdout and "method: area" in shown.stdout
    assert enhance("pipelines", "validate", "-c", str(config)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipelines:\n  p:\n    stages: [nosuchstage]\n")
    result = enhance("pipelines", "validate", "-c", str(bad))
    assert result.returncode == 2 and "unknown stage 'nosuchstage'" in result.stderr
    stages = enhance("stages")
    assert stages.returncode == 0 and "resize:" in stages.stdout and "long_side" in stages.stdout


class _InterruptParams(StageParams):
    pass


class _Interrupt(Stage):
    """Simulates Ctrl-C during compute (test stage)."""

    name = "test-cli-interrupt"
    description = "raise KeyboardInterrupt (test stage)"
    Params = _InterruptParams

    def process(self, image, ctx):
        raise KeyboardInterrupt


def _interrupted(*args: str) -> str:
    """Invoke the app in-process; assert Ctrl-C gave exit 130 and the one-line message."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 130, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("enhance: interrupted")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_ctrl_c_prints_a_message_and_exits_130(tmp_path: Path) -> None:
    register_stage(_Interrupt)
    generated_folder(tmp_path / "in")
    config = tmp_path / "pipelines.yaml"
    config.write_text("pipelines:\n  p:\n    device: cpu\n    stages: [test-cli-interrupt]\n")
    line = _interrupted("run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "p")
    assert line == "enhance: interrupted; finished outputs are kept, rerun to do the rest"


def test_ctrl_c_in_score_and_pick_prints_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import enhance.picking as picking
    import enhance.scoring as scoring

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring, "score_files", interrupt)
    monkeypatch.setattr(picking, "pick_best", interrupt)
    generated_folder(tmp_path / "in")
    assert "rerun to score" in _interrupted("score", str(tmp_path / "in"), "-o", str(tmp_path / "rep"))
    assert "rerun to pick" in _interrupted("pick", str(tmp_path / "in"), "-o", str(tmp_path / "picked"))


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from enhance.cli import user_errors

    def raising(exc: BaseException) -> None:
        with user_errors():
            raise exc

    monkeypatch.delenv("ENHANCE_DEBUG", raising=False)
    with pytest.raises(typer.Exit) as info:
        raising(KeyError("weights"))
    assert info.value.exit_code == 1
    for passing in (typer.Exit(3), SystemExit(4), KeyboardInterrupt(), typer.BadParameter("x")):
        with pytest.raises(type(passing)) as caught:
            raising(passing)
        assert caught.value is passing
    monkeypatch.setenv("ENHANCE_DEBUG", "1")
    with pytest.raises(KeyError):
        raising(KeyError("weights"))


def test_unexpected_error_message_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    import enhance.config as config

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("bad thing\nmore detail")

    monkeypatch.delenv("ENHANCE_DEBUG", raising=False)
    monkeypatch.setattr(config, "load_pipelines", broken)
    result = CliRunner().invoke(app, ["pipelines", "list"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (
        "enhance: error: internal error: ValueError: bad thing (run with ENHANCE_DEBUG=1 for the traceback)"
    )


def test_dry_run_checks_the_device(tmp_path: Path) -> None:
    generated_folder(tmp_path / "in")
    config = small_config(tmp_path)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small"]
    result = CliRunner().invoke(app, [*args, "--dry-run", "--device", "cuda:99"])
    assert result.exit_code == 2 and "device 'cuda:99'" in result.output and "dry run" not in result.output
    assert not (tmp_path / "out").exists()


def test_sigterm_unwinds_like_ctrl_c() -> None:
    """SIGTERM must run ``finally`` blocks (partial downloads removed, manifest written)."""
    import os
    import signal
    import time

    from enhance.cli import terminate_like_interrupt

    previous = signal.getsignal(signal.SIGTERM)
    cleaned = []
    try:
        terminate_like_interrupt()
        with pytest.raises(KeyboardInterrupt):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler interrupts this at once
            finally:
                cleaned.append(True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert cleaned == [True]


def _hostile_config(tmp_path: Path, case: str) -> str:
    """The pipelines files of the hostile run's YAML report (issue: alias bomb, 50 MB value, 1000 deep)."""
    path = tmp_path / f"{case}.yaml"
    head = "pipelines:\n  p:\n    stages:\n      - resize:\n          long_side: "
    if case == "alias-bomb":
        levels = [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
        path.write_text(head + f"[&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol], {', '.join(levels)}]\n")
    elif case == "50MB-value":
        path.write_text(head + "9" * 50_000_000 + "\n")
    elif case == "1000-deep":
        path.write_text(head + "[" * 1000 + "]" * 1000 + "\n")
    else:
        return "/dev/zero"
    return str(path)


def _capped(limit: int = 2 << 30) -> None:
    """In the child: at most 2 GiB of address space, so a regression fails fast, not the machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize("case", ["alias-bomb", "50MB-value", "1000-deep", "dev-zero"])
def test_hostile_config_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    if case == "dev-zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    config = _hostile_config(tmp_path, case)
    (tmp_path / "in").mkdir()
    for args in (
        ["pipelines", "validate", "-c", config],
        ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", config, "-p", "p", "--dry-run"],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "enhance", *args],
            capture_output=True, text=True, cwd=ROOT, timeout=300, preexec_fn=_capped,
        )  # fmt: skip
        assert out.returncode == 2, out.stderr[:2000]
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"enhance: error: {config}"), out.stderr[:2000]
        assert len(lines[0]) < 300 and ("limit" in lines[0] or "nesting" in lines[0]), lines[0]


def test_pipeline_names_are_printed_escaped(tmp_path: Path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        'pipelines:\n  "ok\\e[2J":\n    description: "clear\\e]0;title\\a"\n    stages: [resize: {scale: 2}]\n'
        '  "bad\\e[2J":\n    stages: [nope]\n'
    )
    listed = CliRunner().invoke(app, ["pipelines", "list", "-c", str(config)])
    checked = CliRunner().invoke(app, ["pipelines", "validate", "-c", str(config), "ok\x1b[2J", "bad\x1b[2J", "x\x1b"])
    assert listed.exit_code == 0 and checked.exit_code == 2
    for text in (listed.stdout, checked.stdout, checked.stderr):
        assert "\x1b" not in text and "\x07" not in text
    assert "ok\\x1b[2J  [resize]  clear\\x1b]0;title\\x07" in listed.stdout
    assert "ok: ok\\x1b[2J (1 stages)" in checked.stdout
    assert "no pipeline named 'x\\x1b'; defined: 'ok\\x1b[2J', 'bad\\x1b[2J'\n" in checked.stderr


def test_a_second_run_into_a_held_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    generated_folder(tmp_path / "in")
    config = small_config(tmp_path)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small"]
    with held_by_another_process(tmp_path / "out") as holder:
        out = enhance(*args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"another enhance command (pid {holder.pid}, started" in out.stderr and "choose another -o" in out.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".enhance.lock"]
    assert enhance(*args).returncode == 0  # once the holder is gone


def test_a_manifest_that_cannot_be_written_is_one_line_and_exit_1_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    real_replace = os.replace

    def replace(source, target, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(target).name == "manifest.json":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))
        return real_replace(source, target, *args, **kwargs)

    generated_folder(tmp_path / "in")
    config = small_config(tmp_path)
    monkeypatch.setattr(os, "replace", replace)
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    (line,) = [line for line in result.output.splitlines() if "manifest.json: cannot be written" in line]
    assert "(Read-only file system)" in line and "rerun" in line
