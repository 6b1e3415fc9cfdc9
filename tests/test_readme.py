"""The README's Python examples run as written: every ```python block is executed, each in a fresh
namespace, from a folder holding the files the README says they need (in.png, a folder in/ of
images, a copy of pipelines.yaml), with the real model found through ENHANCE_WEIGHTS."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.conftest import ROOT, SHARED_WEIGHTS

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
BLOCKS = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
#: what a block names when it needs the real model of ../shared
NEEDS_MODEL = ("realesr-animevideov3", "anime-4k")


def _first_line(code: str) -> str:
    return next(line for line in code.splitlines() if line.strip() and not line.startswith(("import", "from")))


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    PILImage.fromarray(picture).save(tmp_path / "in.png")
    (tmp_path / "in" / "sub").mkdir(parents=True)
    PILImage.fromarray(picture[::-1]).save(tmp_path / "in" / "a.png")
    PILImage.fromarray(picture[:, ::-1]).save(tmp_path / "in" / "sub" / "b.png")
    shutil.copy(ROOT / "pipelines.yaml", tmp_path / "pipelines.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENHANCE_WEIGHTS", str(SHARED_WEIGHTS))
    monkeypatch.setenv("ENHANCE_OFFLINE", "1")  # the examples use the model that is there, never a download
    return tmp_path


@pytest.mark.parametrize(
    "index",
    [  # the blocks that run the real model are among the slowest tests
        pytest.param(i, id=f"block{i}", marks=[pytest.mark.slow] if any(n in code for n in NEEDS_MODEL) else [])
        for i, code in enumerate(BLOCKS)
    ],
)
def test_a_readme_python_block_runs_as_written(index: int, workdir: Path) -> None:
    code = BLOCKS[index]
    if any(name in code for name in NEEDS_MODEL) and not (SHARED_WEIGHTS / "realesr-animevideov3.pth").is_file():
        pytest.skip(f"needs the real model in {SHARED_WEIGHTS}: {_first_line(code)!r}")
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    if "out.png" in code:
        assert (workdir / "out.png").is_file()
    if "run_batch" in code:
        assert (workdir / "out" / "a.png").is_file() and (workdir / "out" / "sub" / "b.png").is_file()
