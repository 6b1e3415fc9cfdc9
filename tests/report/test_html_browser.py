"""The HTML reports in a real headless browser (Chromium from the system packages): they load with
no console errors or exceptions, every image decodes, and the table sorts on click.

``enhance run`` with a pipeline ending in ``score`` writes the three reports (the acceptance run);
``enhance score`` and ``enhance pick`` reports are opened too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch.nn.functional as F
from typer.testing import CliRunner

from enhance.cli import app
from enhance.stages import Stage, StageParams, register_stage

from ..conftest import KODAK
from ..metrics.images import gaussian_blur, load_planes, save_planes
from .browser import CHROMIUM, Browser

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
    pytest.mark.slow,
]


class UpSharpen(Stage):
    """Test stage: a 2x bicubic upscale with an unsharp mask, so scores change."""

    name = "test-up-sharpen"
    description = "2x bicubic + unsharp mask (tests only)"
    Params = StageParams

    def process(self, image, ctx):  # type: ignore[no-untyped-def]
        up = F.interpolate(image.pixels[None], scale_factor=2, mode="bicubic", align_corners=False)[0]
        sharpened = (up + 0.8 * (up - gaussian_blur(up, 1.0))).clamp(0, 1)
        return image.replace(pixels=sharpened, alpha=None)


def small_photos(folder: Path, count: int = 3, size: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(p.name for p in KODAK.glob("*.png"))[:count]:
        x = load_planes(KODAK / name)
        save_planes(x[:, 100 : 100 + size, 150 : 150 + size], folder / name)
    return folder


def check_page(browser: Browser, page: Path, images: int) -> None:
    browser.open(page)
    assert browser.errors() == []
    loaded = browser.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert loaded == [True] * images
    assert browser.evaluate("document.querySelectorAll('#files-table tbody tr').length") > 0


@pytest.mark.shared
def test_run_score_and_pick_reports_in_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_stage(UpSharpen)  # for this test only: the registries are reset after each test
    photos = small_photos(tmp_path / "in")
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "pipelines:\n"
        "  scored:\n"
        "    description: upscale, sharpen, score\n"
        "    device: cpu\n"
        "    output: {format: png}\n"
        "    stages:\n"
        "      - test-up-sharpen\n"
        "      - score: {metrics: [sharpness, entropy, png_bpp]}\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(photos), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "scored"])
    assert result.exit_code == 0, result.output
    for name in ("manifest.json", "report.json", "report.csv", "report.html"):
        assert (tmp_path / "out" / name).is_file()

    result = runner.invoke(app, ["score", str(photos), "-o", str(tmp_path / "scored"), "--device", "cpu"])
    assert result.exit_code == 0, result.output

    prompts = tmp_path / "prompts"
    for prompt in ("lighthouse", "harbour"):
        for i, sigma in enumerate((0.0, 1.0, 2.0)):
            x = load_planes(photos / "kodim01.png" if prompt == "lighthouse" else photos / "kodim02.png")
            (prompts / prompt).mkdir(parents=True, exist_ok=True)
            save_planes(gaussian_blur(x, sigma) if sigma else x, prompts / prompt / f"seed{i}.png")
    result = runner.invoke(app, ["pick", str(prompts), "-o", str(tmp_path / "best"), "--device", "cpu"])
    assert result.exit_code == 0, result.output

    with Browser() as browser:
        check_page(browser, tmp_path / "out" / "report.html", images=3 * 2 * 2)
        # sorting: click "sharpness Δ" twice, the column comes back ascending then descending
        heads = "document.querySelectorAll('#files-table thead th')"
        column = browser.evaluate(f"Array.from({heads}).findIndex(th => th.textContent === 'sharpness Δ')")
        assert column > 0
        rows = "document.querySelectorAll('#files-table tbody tr')"
        read = f"Array.from({rows}).map(r => Number(r.cells[{column}].dataset.v))"
        click = f"{heads}[{column}].click()"
        browser.evaluate(click)
        ascending = browser.evaluate(read)
        browser.evaluate(click)
        descending = browser.evaluate(read)
        assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
        assert len(set(ascending)) == 3
        assert browser.evaluate("document.querySelectorAll('#plots svg circle').length") == 3 * 3
        assert browser.errors() == []

        check_page(browser, tmp_path / "scored" / "report.html", images=3 * 2)
        check_page(browser, tmp_path / "best" / "report.html", images=6 * 2)
        assert browser.evaluate("document.querySelectorAll('#ranking li.picked').length") == 2
