"""The public API, written down: every public name of the packages users import, as a literal list.

The lists are typed out here on purpose, not computed from the code, so that a name lost (or added)
by a refactoring fails this test instead of breaking a user. Changing the API means changing a list
here, in the same commit, on purpose.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PUBLIC: dict[str, list[str]] = {
    "enhance": [
        "Cancelled",
        "ConfigError",
        "Deband",
        "EnhanceError",
        "Image",
        "ImageFormatError",
        "InputError",
        "Metadata",
        "OutputSpec",
        "Pipeline",
        "Raster",
        "Resize",
        "RunContext",
        "Score",
        "Stage",
        "StageParams",
        "Upscale",
        "__version__",
        "get_stage",
        "list_stages",
        "load_pipelines",
        "read",
        "register_stage",
        "resolve_device",
        "run_batch",
        "write",
    ],
    "enhance.ops": [
        "deband",
        "linear_to_srgb",
        "resize",
        "resize_to",
        "rgb_to_ycbcr",
        "srgb_to_linear",
        "target_size",
        "tiled_upscale",
        "ycbcr_to_rgb",
    ],
    "enhance.metrics": [
        "Metric",
        "banding_index",
        "banding_map",
        "compute",
        "default_metrics",
        "entropy",
        "get_metric",
        "gradient_energy",
        "list_metrics",
        "metric_names",
        "niqe",
        "png_bpp",
        "psnr",
        "psnr_y",
        "register_metric",
        "sharpness",
        "ssim",
        "ssim_y",
        "validate_metrics",
    ],
    "enhance.models": [
        "ModelEntry",
        "ModelInfo",
        "ReferenceUpscaler",
        "ZOO",
        "as_descriptor",
        "check_file",
        "clear_cache",
        "download_dir",
        "get_entry",
        "inspect_file",
        "load_model",
        "model_names",
        "read_state_dict",
        "resolve_model",
        "search_dirs",
        "set_cache_size",
    ],
    "enhance.stages": [
        "BUILTIN_STAGES",
        "Stage",
        "StageParams",
        "get_stage",
        "list_stages",
        "register_stage",
        "stage_names",
    ],
    "enhance.credentials": [
        "ContentCredentialsSettings",
        "ContentSigner",
        "EditAction",
        "Found",
        "SourceCredentials",
        "c2pa_available",
        "credentials_record",
        "describe_record",
        "find_credentials",
        "find_manifest_store",
        "prepare_signer",
        "remote_reference",
        "strip_provenance",
        "summarize",
    ],
    "enhance.io": [
        "DEFAULT_QUALITY",
        "EIGHT_BIT_ONLY",
        "MAX_PIXELS",
        "PNG_COMPRESS_LEVEL",
        "SUPPORTED_SUFFIXES",
        "TEMP_MARKER",
        "WRITABLE",
        "atomic_output",
        "atomic_write_bytes",
        "decode",
        "encode",
        "encode_bytes",
        "encode_notes",
        "format_for_suffix",
        "jxl_available",
        "pil_from_raster",
        "raster_from_pil",
        "read",
        "remove_stale_temps",
        "suffix_for_format",
        "write",
    ],
    "enhance.integrations.comfyui": ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"],
    "enhance.errors": [
        "Cancelled",
        "ConfigError",
        "EnhanceError",
        "ImageFormatError",
        "InputError",
        "MAX_MESSAGE",
        "StageUnavailableError",
        "first_line",
        "printable",
        "quote",
        "shorten",
    ],
    "enhance.convert": [
        "ACCEPTED",
        "ImageKind",
        "LAYOUTS",
        "Layout",
        "channels_first",
        "check_planes",
        "coerce",
        "from_images",
        "restore_kind",
        "restore_layout",
        "to_images",
    ],
    "enhance.files": [
        "DEFAULT_NAME_MAX",
        "FolderLock",
        "LOCK_NAME",
        "TEMP_MARKER",
        "atomic_output",
        "atomic_symlink",
        "atomic_write_bytes",
        "atomic_write_text",
        "is_temp_name",
        "lock_folder",
        "name_bytes",
        "name_max",
        "remove_stale_temps",
    ],
    "enhance.image": [
        "Image",
        "Metadata",
        "Raster",
        "coerce",
        "from_image",
        "restore_kind",
        "to_image",
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_exactly_the_listed_ones(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == PUBLIC[module_name]
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice in __all__"


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_public_name_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in PUBLIC[module_name] if not hasattr(module, name)]
    assert missing == []
    assert set(PUBLIC[module_name]) - {"__version__"} <= set(dir(module))


def test_moved_names_stay_importable_from_where_they_were() -> None:
    import enhance.convert
    import enhance.image

    assert enhance.image.coerce is enhance.convert.coerce
    assert enhance.image.restore_kind is enhance.convert.restore_kind
    with pytest.raises(AttributeError):
        _ = enhance.image.no_such_name


def test_importing_the_packages_and_listing_names_imports_nothing_heavy() -> None:
    """``import enhance`` and its packages (and what ``enhance --help`` loads) stay light: the heavy
    libraries load only when a name that needs them is used."""
    code = (
        "import sys\n"
        "import enhance, enhance.ops, enhance.metrics, enhance.models, enhance.stages, enhance.config, enhance.cli\n"
        "for m in (enhance, enhance.ops, enhance.metrics, enhance.models, enhance.stages):\n"
        "    dir(m)\n"
        "from enhance.cli import app\n"
        "for args in (['--help'], ['run', '--help'], ['score', '--help'], ['pick', '--help'], ['models', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "from enhance import Deband, Resize, Upscale, Score, OutputSpec, Pipeline, ImageFormatError, Cancelled\n"
        "Pipeline([Deband(), Resize(long_side=8), Upscale(model='realesr-animevideov3'), Score()], device='cpu')\n"
        "print('HEAVY', sorted(m for m in ('torch', 'cv2', 'spandrel', 'kornia', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]


def test_the_stage_classes_are_the_registered_ones() -> None:
    import enhance
    from enhance.stages import get_stage

    for name in ("deband", "resize", "upscale", "score"):
        assert getattr(enhance, name.capitalize()) is get_stage(name)
    assert issubclass(enhance.ImageFormatError, ValueError) and issubclass(enhance.Cancelled, enhance.EnhanceError)


def test_the_version_has_one_home() -> None:
    """enhance/_version.py is read by the package, the wheel's metadata, the manifest and the reports."""
    from importlib.metadata import version

    import enhance
    from enhance._version import __version__
    from enhance.manifest import build_manifest
    from enhance.report.model import build_report

    assert enhance.__version__ is __version__
    assert version("enhance") == __version__
    assert build_manifest("score", [], started="now")["enhance_version"] == __version__
    assert build_report({"files": []})["enhance_version"] == __version__
