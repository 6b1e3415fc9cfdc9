"""The layering of GUIDE.md, enforced: import-linter's contracts in pyproject.toml hold, and the
check is live (a forbidden import or a cycle added to a copy of the package breaks it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package found from ``pythonpath`` with the contracts in ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath else dict(os.environ)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_the_layer_contracts_hold() -> None:
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Contracts: 3 kept, 0 broken." in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # an op reaching up into the batch runner: both the layers and the forbidden contract say no
        (
            "ops/color.py",
            "from ..batch import run_batch",
            ["layers:", "know nothing of stages", "enhance.ops.color -> enhance.batch"],
        ),
        # one folder workflow reaching into another: they share discovery, manifest and reports only
        ("scoring.py", "from .picking import pick_best", ["layers:", "enhance.scoring -> enhance.picking"]),
        # what every runner shares reaching up into one runner
        ("work.py", "from .batch import LocalScheduler", ["layers:", "enhance.work -> enhance.batch"]),
        # the image <-> codec cycle this phase removed: same layer, so only the cycle check sees it
        ("image.py", "from .convert import coerce", ["no import cycles", ".image", ".convert"]),
    ],
)
def test_the_check_is_live(tmp_path: Path, module: str, line: str, broken: list[str]) -> None:
    """A copy of the package with one bad import added fails the same contracts."""
    shutil.copytree(ROOT / "enhance", tmp_path / "enhance", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint(tmp_path, pythonpath=tmp_path).returncode == 0, "the copy must pass before the change"
    target = tmp_path / "enhance" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    out = lint(tmp_path, pythonpath=tmp_path)
    assert out.returncode == 1, out.stdout[-4000:]
    report = out.stdout.split("Broken contracts", 1)[-1]
    for text in broken:
        assert text in report, report[-4000:]
