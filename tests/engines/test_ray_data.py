"""``enhance run --engine ray`` against the local runner, on one Ray instance for the module.

Ray takes tens of seconds to start on a small machine, so every test here shares one instance
(2 CPUs, as a small worker has) and one moto S3 server on 127.0.0.1 started before it, so the Ray
workers inherit its endpoint and credentials the way a cluster's workers inherit theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from tests.conftest import ROOT
from tests.sr_models import save_pth, tiny_compact_state

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # as the engine does: read at `import ray`
ray = pytest.importorskip("ray")
#: Ray's start-up alone takes 30-60 s here, and the module about 3-5 minutes on 2 loaded cores
pytestmark = pytest.mark.slow

KEYS = ("input", "relative", "output", "status", "error", "size", "results", "warnings", "written")


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a real S3-protocol endpoint over HTTP); yields its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield url
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def ray_instance(s3: str) -> Iterator[None]:
    """One local Ray instance for the module (the engine joins it and leaves it running)."""
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")
    for attempt in (1, 2):  # a loaded machine can miss Ray's fixed 30 s wait for its raylet
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 images (PNG and JPEG, one 16-bit PNG with a text chunk, one RGBA) and one broken file,
    a tiny random x4 model and a resize + upscale pipeline."""
    root = tmp_path_factory.mktemp("ray")
    folder = root / "in"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(6):
        array = rng.integers(0, 256, (24 + i, 32, 3), dtype=np.uint8)
        where = folder / "sub" if i % 3 == 0 else folder
        PILImage.fromarray(array).save(where / (f"p{i}.png" if i % 2 == 0 else f"p{i}.jpg"))
    PILImage.fromarray(rng.integers(0, 256, (20, 28, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.png")
    import cv2

    deep = rng.integers(0, 65536, (26, 30, 3), dtype=np.uint16)
    cv2.imwrite(str(folder / "deep16.png"), deep)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    model = save_pth(root / "tiny.pth", tiny_compact_state(3, scale=4))
    (root / "pipelines.yaml").write_text(
        "pipelines:\n"
        "  tiny:\n"
        "    device: cpu\n"
        "    stages:\n"
        "      - resize: {long_side: 24, method: area}\n"
        f"      - upscale: {{model: {model}, tile: 0}}\n"
    )
    return root


def enhance(*args: str) -> tuple[int, str]:
    """The command line, in this process (so the engine joins the module's Ray instance)."""
    from enhance.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def run(workdir: Path, out: str, *extra: str) -> tuple[int, str]:
    return enhance(
        "run", str(workdir / "in"), "-r", "-o", out, "-c", str(workdir / "pipelines.yaml"), "-p", "tiny", "-q", *extra
    )


def entries(out: Path) -> dict[str, dict[str, object]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {r["relative"]: {k: r.get(k) for k in KEYS} for r in manifest["files"]}


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_ray_matches_the_local_runner_and_a_rerun_skips_everything(ray_instance: None, workdir: Path) -> None:
    local, distributed = workdir / "out-local", workdir / "out-ray"
    assert run(workdir, str(local))[0] == 1
    code, text = run(workdir, str(distributed), "--engine", "ray")
    assert code == 1, text

    want, got = entries(local), entries(distributed)
    assert len(got) == 9 and got.keys() == want.keys()
    for relative, record in want.items():
        expected = {**record, "output": str(record["output"]).replace(str(local), str(distributed))}
        expected["written"] = got[relative]["written"]  # the files' own mtimes
        if relative != "broken.png":
            assert got[relative]["written"]["bytes"] == record["written"]["bytes"]
        assert got[relative] == expected, relative
    assert got["broken.png"]["status"] == "failed" and "broken.png" in got["broken.png"]["error"]
    assert {k: v for k, v in outputs(distributed).items() if k != "manifest.json"} == {
        k: v for k, v in outputs(local).items() if k != "manifest.json"
    }
    manifest = json.loads((distributed / "manifest.json").read_text())
    assert manifest["device"].startswith("ray: 1 x cpu") and manifest["interrupted"] is False

    code, text = run(workdir, str(distributed), "--engine", "ray")
    assert code == 1, text
    again = json.loads((distributed / "manifest.json").read_text())
    # the broken file is tried again (and fails again); every finished output is skipped
    assert again["this_run"] == {"total": 9, "done": 0, "skipped": 8, "failed": 1}


def test_s3_round_trip(ray_instance: None, workdir: Path, s3: str) -> None:
    import pyarrow.fs

    fs = pyarrow.fs.S3FileSystem(endpoint_override=s3, allow_bucket_creation=True)
    fs.create_dir("bucket")
    for path in sorted((workdir / "in").rglob("*")):
        if path.is_file():
            with fs.open_output_stream(f"bucket/in/{path.relative_to(workdir / 'in').as_posix()}") as stream:
                stream.write(path.read_bytes())
    local = workdir / "out-local-s3"
    assert run(workdir, str(local))[0] == 1
    code, text = enhance(
        "run", "s3://bucket/in", "-r", "-o", "s3://bucket/out", "-c", str(workdir / "pipelines.yaml"), "-p", "tiny",
        "-q", "--engine", "ray",
    )  # fmt: skip
    assert code == 1, text
    listed = fs.get_file_info(pyarrow.fs.FileSelector("bucket/out", recursive=True))
    keys = sorted(e.path for e in listed if e.type == pyarrow.fs.FileType.File)
    want = {k: v for k, v in outputs(local).items() if k != "manifest.json"}
    assert keys == sorted(f"bucket/out/{k}" for k in [*want, "manifest.json"])
    for key, data in want.items():
        with fs.open_input_file(f"bucket/out/{key}") as stream:
            assert stream.read() == data, key
    with fs.open_input_file("bucket/out/manifest.json") as stream:
        manifest = json.loads(stream.read())
    records = {r["relative"]: r for r in manifest["files"]}
    assert records["broken.png"]["status"] == "failed"
    assert records["broken.png"]["error"].startswith("s3://bucket/in/broken.png: ")
    assert records["sub/p0.png"]["input"] == "s3://bucket/in/sub/p0.png"
    assert records["sub/p0.png"]["output"] == "s3://bucket/out/sub/p0.png"
    assert records["sub/p0.png"]["size"] == entries(local)["sub/p0.png"]["size"]

    code, text = enhance(
        "run", "s3://bucket/in", "-r", "-o", "s3://bucket/out", "-c", str(workdir / "pipelines.yaml"), "-p", "tiny",
        "-q", "--engine", "ray",
    )  # fmt: skip
    assert code == 1, text
    with fs.open_input_file("bucket/out/manifest.json") as stream:
        again = json.loads(stream.read())
    assert again["this_run"] == {"total": 9, "done": 0, "skipped": 8, "failed": 1}
    results = {r["relative"]: r["results"] for r in manifest["files"]}
    assert {r["relative"]: r["results"] for r in again["files"]} == results


def test_help_and_the_local_runner_never_import_ray(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    config = tmp_path / "pipelines.yaml"
    config.write_text("pipelines:\n  small:\n    device: cpu\n    stages:\n      - resize: {long_side: 4}\n")
    code = (
        "import sys\n"
        "from enhance.cli import app\n"
        "for args in (['--help'], ['run', '--help'], "
        f"['run', {str(folder)!r}, '-o', {str(tmp_path / 'out')!r}, '-c', {str(config)!r}, '-p', 'small', '-q']):\n"
        "    try:\n        app(args)\n    except SystemExit as exc:\n        assert not exc.code, (args, exc.code)\n"
        "print('RAY', sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'pyarrow'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "RAY []" in out.stdout, out.stdout[-500:] + out.stderr[-1500:]
    assert (tmp_path / "out" / "a.png").exists()
