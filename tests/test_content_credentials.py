"""Content credentials through a whole run: sources a generator signed (PNG and JPEG) go through a
deband + resize pipeline. Without signing settings the outputs carry no manifest and the records
and reports say why; with them, c2pa validates each output's new manifest and finds the source as
parent ingredient and the pipeline's actions. Bad settings stop the run before any image, and the
private key is written nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enhance import __version__
from enhance.batch import MANIFEST_NAME, run_batch
from enhance.cli import app
from enhance.config import OutputSpec
from enhance.credentials.detect import find_credentials
from enhance.errors import ConfigError
from enhance.events import Notice
from enhance.pipeline import Pipeline
from enhance.report import write_reports
from enhance.stages.deband import Deband
from enhance.stages.resize import Resize
from tests.c2pa_kit import (
    TRAINED,
    Pki,
    active_manifest,
    image_bytes,
    make_pki,
    manifest_actions,
    read_store,
    sign_as_generator,
)

pytest.importorskip("c2pa")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


def signed_sources(folder: Path, pki: Pki) -> dict[str, Path]:
    """A generator-signed PNG and JPEG, and a PNG without credentials."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "gen.png": sign_as_generator(image_bytes("PNG", size=(64, 48), seed=1), "PNG", pki),
        "photo.jpg": sign_as_generator(image_bytes("JPEG", size=(64, 48), seed=2, quality=92), "JPEG", pki),
        "plain.png": image_bytes("PNG", size=(64, 48), seed=3),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made}


def pipeline(**output: object) -> Pipeline:
    stages = [Deband(), Resize(long_side=96, method="lanczos")]
    return Pipeline(stages, output=OutputSpec(**output), device="cpu", name="provenance")


def records(out: Path) -> dict[str, dict]:
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    return {Path(r["input"]).name: r for r in manifest["files"]}


def test_without_signing_outputs_carry_no_manifest_and_records_say_why(pki: Pki, tmp_path: Path) -> None:
    signed_sources(tmp_path / "in", pki)
    events: list[object] = []
    result = run_batch(pipeline(), [tmp_path / "in"], tmp_path / "out", on_event=events.append)
    lines = [e.text for e in events if isinstance(e, Notice)]
    assert result.exit_code == 0
    by_name = records(tmp_path / "out")
    for name in ("gen.png", "photo.jpg"):
        record = by_name[name]
        output = Path(record["output"]).read_bytes()
        assert find_credentials(output) is None and read_store(output, "PNG") is None
        source = record["content_credentials"]["source"]
        assert source["verified"] and source["state"] == "Valid" and source["ai_generated"]
        assert source["claim_generator"] == "FakeGen Image Model 3.0" and source["digital_source_type"] == TRAINED
        assert record["content_credentials"]["output"]["signed"] is False
        assert "pixels, which changed" in record["content_credentials"]["output"]["note"]
    assert "content_credentials" not in by_name["plain.png"]  # nothing to say
    assert any(line.startswith("note: 2 source(s) carried content credentials") for line in lines)
    write_reports(json.loads((tmp_path / "out" / MANIFEST_NAME).read_text()), tmp_path / "out", max_crops=0)
    csv = (tmp_path / "out" / "report.csv").read_text()
    assert "credentials_source" in csv.splitlines()[0]
    assert "AI-generated (trainedAlgorithmicMedia)" in csv and "not carried: the pixels changed" in csv
    assert "source content credentials" in (tmp_path / "out" / "report.html").read_text()


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_with_signing_each_output_has_a_valid_new_manifest_naming_parent_and_actions(
    pki: Pki, tmp_path: Path, fmt: str
) -> None:
    sources = signed_sources(tmp_path / "in", pki)
    settings = {"certificate": str(pki.certificate), "private_key": str(pki.private_key)}
    out = tmp_path / "out"
    result = run_batch(pipeline(format=fmt, content_credentials=settings), [tmp_path / "in"], out)
    assert result.exit_code == 0
    by_name = records(out)
    for name in sources:
        record = by_name[name]
        store = read_store(Path(record["output"]).read_bytes(), fmt.upper(), anchors=pki.ca_bytes)
        assert store is not None and store["validation_state"] == "Trusted"  # the test CA as the user's anchor
        manifest = active_manifest(store)
        generator = manifest["claim_generator_info"][0]
        assert (generator["name"], generator["version"]) == ("enhance", __version__)
        (parent,) = manifest["ingredients"]
        assert parent["relationship"] == "parentOf" and parent["title"] == name
        actions = manifest_actions(manifest)
        assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.filtered", "c2pa.resized"]
        assert [a.get("description") for a in actions[1:]] == ["deband", "resize"]
        assert actions[2]["parameters"]["long_side"] == 96
        generated = name != "plain.png"
        assert all((a.get("digitalSourceType") == TRAINED) == generated for a in actions)  # the AI label kept
        if generated:
            assert parent["active_manifest"] in store["manifests"]  # the generator's manifest, inside
        written = record["content_credentials"]["output"]
        assert written["signed"] and written["algorithm"] == "es256"
        assert written["actions"] == ["c2pa.opened", "c2pa.filtered", "c2pa.resized"]
    # the key is nowhere in what the run wrote
    key = pki.key_bytes
    body = "".join(line for line in key.decode().splitlines() if not line.startswith("-----"))
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert key not in data and body[:48].encode() not in data, path


def test_bad_signing_settings_stop_the_run_before_any_image(pki: Pki, tmp_path: Path) -> None:
    signed_sources(tmp_path / "in", pki)
    settings = {"certificate": str(pki.certificate), "private_key": str(tmp_path / "missing.pem")}
    with pytest.raises(ConfigError, match=r"missing\.pem: private key file not found"):
        run_batch(pipeline(content_credentials=settings), [tmp_path / "in"], tmp_path / "out")
    assert not any(p.suffix in (".png", ".jpg") for p in (tmp_path / "out").rglob("*"))


def test_signing_settings_from_the_command_line(pki: Pki, tmp_path: Path) -> None:
    signed_sources(tmp_path / "in", pki)
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "pipelines:\n  small:\n    device: cpu\n    stages:\n      - deband\n      - resize: {long_side: 96}\n"
    )
    args = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-c", str(config), "-p", "small", "-q"]
    sets = [
        "--set",
        f"output.content_credentials.certificate={pki.certificate}",
        "--set",
        f"output.content_credentials.private_key={pki.private_key}",
    ]
    result = CliRunner().invoke(app, [*args, *sets])
    assert result.exit_code == 0, result.output
    output = (tmp_path / "out" / "gen.png").read_bytes()
    store = read_store(output, "PNG")
    assert store is not None and store["validation_state"] == "Valid"
    assert pki.key_bytes.decode() not in result.output
    missing = ["--set", "output.content_credentials.private_key=nope.pem"]
    bad = CliRunner().invoke(app, [*args, "--overwrite", *sets[:2], *missing])
    assert bad.exit_code == 2 and "nope.pem: private key file not found" in bad.output
