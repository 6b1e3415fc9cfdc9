"""The ComfyUI node pack, loaded and called exactly as ComfyUI does it.

ComfyUI imports a custom-node folder's ``__init__.py`` under the folder's name, reads
``NODE_CLASS_MAPPINGS``/``NODE_DISPLAY_NAME_MAPPINGS``, calls every class's ``INPUT_TYPES()``, and
runs a node by instantiating its class without arguments, building keyword arguments from the
inputs (connected values, else the widget values: the defaults of the spec here), calling
``getattr(node, node.FUNCTION)(**kwargs)`` under ``torch.inference_mode()``, and taking the
returned tuple (or a dict's ``"result"``, with its ``"ui"`` shown) as the outputs, one per
``RETURN_TYPES`` entry. IMAGE is float32 ``[B,H,W,C]`` in 0..1 on the CPU; UPSCALE_MODEL is the
spandrel descriptor ComfyUI's Load Upscale Model node makes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from enhance.errors import ConfigError
from tests.conftest import ANIMEVIDEOV3, ROOT, SHARED_WEIGHTS
from tests.sr_models import save_pth, tiny_compact_state
from tests.synthetic import banded

PACK = ROOT / "enhance" / "integrations" / "comfyui"
WIDGET_DEFAULTS = {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}


def load_like_comfyui(custom_nodes: Path, folder_name: str = "enhance-nodes") -> types.ModuleType:
    """ComfyUI's load_custom_node: the folder's __init__.py, imported under the folder's name."""
    folder = custom_nodes / folder_name
    if not folder.exists():
        folder.symlink_to(PACK, target_is_directory=True)  # the README's install: a link in custom_nodes
    spec = importlib.util.spec_from_file_location(folder_name, folder / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[folder_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mappings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, type]]:
    module = load_like_comfyui(tmp_path_factory.mktemp("custom_nodes"))
    yield module.NODE_CLASS_MAPPINGS
    sys.modules.pop("enhance-nodes", None)


def widget_kwargs(cls: type, given: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ComfyUI passes: each input connected (``given``) or its widget's value."""
    spec = cls.INPUT_TYPES()
    kwargs: dict[str, Any] = {}
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            if name in given:
                kwargs[name] = given[name]
                continue
            kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
            if isinstance(kind, list):  # a combo
                kwargs[name] = options.get("default", kind[0])
            elif kind in WIDGET_DEFAULTS:
                kwargs[name] = options.get("default", WIDGET_DEFAULTS[kind])
            else:
                assert section == "optional", f"{cls.__name__}: required input {name} ({kind}) must be connected"
    assert set(given) <= set(kwargs), f"{cls.__name__} has no input(s) {set(given) - set(kwargs)}"
    return kwargs


def execute(mappings: dict[str, type], node_type: str, **given: Any) -> tuple[tuple[Any, ...], dict | None]:
    """Run one node as ComfyUI's executor does; checks the outputs against RETURN_TYPES."""
    cls = mappings[node_type]
    node = cls()
    with torch.inference_mode():
        result = getattr(node, cls.FUNCTION)(**widget_kwargs(cls, given))
    ui = None
    if isinstance(result, dict):
        ui, result = result.get("ui"), result["result"]
    assert isinstance(result, tuple) and len(result) == len(cls.RETURN_TYPES)
    for value, kind in zip(result, cls.RETURN_TYPES, strict=True):
        if kind == "IMAGE":
            assert isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-1] == 3
            assert value.dtype == torch.float32 and value.device.type == "cpu"
            assert float(value.min()) >= 0.0 and float(value.max()) <= 1.0
        elif kind == "STRING":
            assert isinstance(value, str)
    return result, ui


def comfy_image(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))


def comfy_upscale_model(path: Path) -> Any:
    """What ComfyUI's Load Upscale Model gives: spandrel's descriptor of the (safely read) state dict."""
    from spandrel import ImageModelDescriptor, ModelLoader

    from enhance.models.load import read_state_dict

    descriptor = ModelLoader().load_from_state_dict(read_state_dict(path)).eval()
    assert isinstance(descriptor, ImageModelDescriptor)
    return descriptor


# -- the pack --------------------------------------------------------------------------------------


def test_loading_the_pack_imports_nothing_heavy(tmp_path: Path) -> None:
    """ComfyUI imports every node pack and calls every INPUT_TYPES() at start-up: none of it loads
    torch. Checked in a fresh interpreter (this module imports torch), with the same loader."""
    import inspect

    code = (
        "from __future__ import annotations\nimport importlib.util, sys\n"
        "from pathlib import Path\n"
        f"PACK = Path({str(PACK)!r})\n"
        + inspect.getsource(load_like_comfyui)
        + f"module = load_like_comfyui(Path({str(tmp_path)!r}))\n"
        "for cls in module.NODE_CLASS_MAPPINGS.values():\n"
        "    cls.INPUT_TYPES()\n"
        "print('NODES', sorted(module.NODE_CLASS_MAPPINGS))\n"
        "print('HEAVY', sorted(m for m in ('torch', 'cv2', 'spandrel', 'kornia', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout[-1000:] + out.stderr[-2000:]
    assert "NODES ['EnhanceDeband', 'EnhancePipeline', 'EnhanceResize', 'EnhanceScore', 'EnhanceUpscale']" in out.stdout


def test_every_node_declares_comfyuis_interface(mappings: dict[str, type]) -> None:
    from enhance.integrations.comfyui import NODE_DISPLAY_NAME_MAPPINGS

    assert set(NODE_DISPLAY_NAME_MAPPINGS) == set(mappings)
    assert NODE_DISPLAY_NAME_MAPPINGS["EnhancePipeline"] == "Run enhance pipeline"
    for name, cls in mappings.items():
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional"} and spec["required"]["image"][0] == "IMAGE", name
        assert isinstance(cls.RETURN_TYPES, tuple) and callable(getattr(cls(), cls.FUNCTION)), name
        assert cls.CATEGORY == "enhance" and cls.DESCRIPTION, name
        assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES), name
        for section in spec.values():
            for input_name, entry in section.items():
                kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
                if isinstance(kind, list):
                    assert options.get("default", kind[0]) in kind, (name, input_name)
                elif kind in ("INT", "FLOAT"):  # ComfyUI refuses a widget value outside its bounds
                    assert options.get("min", -1e308) <= options["default"] <= options.get("max", 1e308), input_name


# -- the nodes ------------------------------------------------------------------------------------------


def test_the_deband_node_is_the_deband_stage(mappings: dict[str, type]) -> None:
    from enhance import Deband, RunContext

    frame = banded("banded", 48, 64, texture_region=False).image.permute(1, 2, 0)
    image = torch.stack([frame, frame.flip(0)])
    (out,), _ = execute(mappings, "EnhanceDeband", image=image)
    assert out.shape == image.shape and not torch.equal(out, image)
    expected = Deband()(image, RunContext(device="cpu"), layout="BHWC")
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("given", "shape"),
    [
        ({"long_side": 32}, (2, 24, 32, 3)),
        ({"mode": "scale", "scale": 0.25}, (2, 12, 16, 3)),
        ({"mode": "size", "width": 20, "height": 10}, (2, 10, 20, 3)),
        ({"mode": "height", "height": 12}, (2, 12, 16, 3)),
        ({"long_side": 128, "only": "down"}, (2, 48, 64, 3)),
    ],
)
def test_the_resize_node(mappings: dict[str, type], given: dict, shape: tuple[int, ...]) -> None:
    (out,), _ = execute(mappings, "EnhanceResize", image=comfy_image(2, 48, 64), **given)
    assert tuple(out.shape) == shape


def test_the_upscale_node_takes_a_model_file_or_an_upscale_model(mappings: dict[str, type], tmp_path: Path) -> None:
    path = save_pth(tmp_path / "tiny-x4.pth", tiny_compact_state(seed=3))
    image = comfy_image(2, 20, 16)
    (by_path,), _ = execute(mappings, "EnhanceUpscale", image=image, model=str(path))
    (by_model,), _ = execute(mappings, "EnhanceUpscale", image=image, upscale_model=comfy_upscale_model(path))
    assert by_path.shape == (2, 80, 64, 3) and torch.equal(by_path, by_model)
    (sized,), _ = execute(mappings, "EnhanceUpscale", image=image, model=str(path), long_side=40)
    assert sized.shape == (2, 40, 32, 3)


@pytest.mark.shared
def test_the_upscale_node_runs_the_real_model_from_load_upscale_model(mappings: dict[str, type]) -> None:
    """The acceptance check: ComfyUI's UPSCALE_MODEL of the real x4 model on a [2,64,64,3] batch."""
    image = comfy_image(2, 64, 64, seed=1)
    (out,), _ = execute(mappings, "EnhanceUpscale", image=image, upscale_model=comfy_upscale_model(ANIMEVIDEOV3))
    assert out.shape == (2, 256, 256, 3)
    assert float(out.std()) > 0.05  # a picture, not a constant
    from enhance import RunContext, Upscale

    single = Upscale(model=str(ANIMEVIDEOV3))(image[1], RunContext(device="cpu"), layout="HWC")
    assert torch.equal(out[1], single)


def test_the_score_node_returns_the_scores_as_json(mappings: dict[str, type]) -> None:
    sharp = comfy_image(2, 48, 48, seed=2)
    soft = torch.nn.functional.avg_pool2d(sharp.permute(0, 3, 1, 2), 3, 1, 1).permute(0, 2, 3, 1)
    (image, text), ui = execute(mappings, "EnhanceScore", image=sharp, before=soft, metrics="sharpness, entropy")
    assert torch.equal(image, sharp) and ui == {"text": [text]}
    scores = json.loads(text)
    assert len(scores) == 2 and set(scores[0]) == {"scores", "scores_at"}
    for entry in scores:
        assert set(entry["scores"]) == {"sharpness", "entropy"}
        assert entry["scores"]["sharpness"]["delta"] > 0  # sharp after, soft before
    (_, alone), _ = execute(mappings, "EnhanceScore", image=sharp, metrics="entropy")
    assert [e["scores"]["entropy"]["delta"] for e in json.loads(alone)] == [0.0, 0.0]
    with pytest.raises(ConfigError, match="'before' holds 3 images and 'image' 2"):
        execute(mappings, "EnhanceScore", image=sharp, before=comfy_image(3, 48, 48))


@pytest.mark.slow
@pytest.mark.shared
def test_the_pipeline_node_runs_anime_4k_on_a_batch(mappings: dict[str, type], monkeypatch: pytest.MonkeyPatch) -> None:
    """anime-4k from the shipped pipelines.yaml (real model found through ENHANCE_WEIGHTS), sized down."""
    monkeypatch.setenv("ENHANCE_WEIGHTS", str(SHARED_WEIGHTS))
    overrides = "# small, so the test is quick\nupscale.long_side=96\nresize[2].long_side=96\n"
    image = comfy_image(2, 48, 40, seed=4)
    given = {"config": str(ROOT / "pipelines.yaml"), "pipeline": "anime-4k", "overrides": overrides}
    (out, text), _ = execute(mappings, "EnhancePipeline", image=image, **given)
    assert out.shape == (2, 96, 80, 3)
    results = json.loads(text)
    assert len(results) == 2
    for entry in results:
        assert entry["upscale"]["model"] == "realesr-animevideov3" and entry["upscale"]["output_size"] == [80, 96]
        assert {"sharpness", "png_bpp"} <= set(entry["scores"])


def test_the_pipeline_node_reports_a_bad_setting_before_any_image(mappings: dict[str, type], tmp_path: Path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text("pipelines:\n  small:\n    stages:\n      - resize: {long_side: 16}\n")
    (out, _), _ = execute(
        mappings, "EnhancePipeline", image=comfy_image(1, 32, 32), config=str(config), pipeline="small"
    )
    assert out.shape == (1, 16, 16, 3)
    with pytest.raises(ConfigError, match="no pipeline named 'big'"):
        execute(mappings, "EnhancePipeline", image=comfy_image(1, 32, 32), config=str(config), pipeline="big")
    with pytest.raises(ConfigError, match="long_sid"):
        execute(mappings, "EnhancePipeline", image=comfy_image(1, 32, 32), config=str(config), pipeline="small",
                overrides="resize.long_sid=8")  # fmt: skip


# -- inside ComfyUI: its device, progress bar and Cancel button ---------------------------------------------


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Stand-ins for the three things of ComfyUI the nodes use (comfy.model_management's device and
    interrupt flag, comfy.utils.ProgressBar), recording what the nodes do with them."""
    state = types.SimpleNamespace(interrupted=False, bars=[], updates=[])

    class InterruptProcessingException(Exception):
        pass

    class ProgressBar:
        def __init__(self, total: int) -> None:
            state.bars.append(total)

        def update_absolute(self, value: int, total: int | None = None) -> None:
            state.updates.append((value, total))

    def throw_exception_if_processing_interrupted() -> None:
        if state.interrupted:
            raise InterruptProcessingException()

    management = types.ModuleType("comfy.model_management")
    management.get_torch_device = lambda: torch.device("cpu")
    management.processing_interrupted = lambda: state.interrupted
    management.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    management.InterruptProcessingException = InterruptProcessingException
    utils = types.ModuleType("comfy.utils")
    utils.ProgressBar = ProgressBar
    package = types.ModuleType("comfy")
    package.model_management, package.utils = management, utils
    for name, module in (("comfy", package), ("comfy.model_management", management), ("comfy.utils", utils)):
        monkeypatch.setitem(sys.modules, name, module)
    state.Interrupt = InterruptProcessingException
    return state


def test_inside_comfyui_tiles_move_its_progress_bar_and_cancel_interrupts(
    mappings: dict[str, type], comfy: types.SimpleNamespace, tmp_path: Path
) -> None:
    path = save_pth(tmp_path / "tiny-x4.pth", tiny_compact_state(seed=3))
    image = comfy_image(2, 64, 64)
    execute(mappings, "EnhanceUpscale", image=image, model=str(path), tile=32)
    total = comfy.bars[0]
    assert total > 2 and comfy.updates[-1] == (total, total)  # the tiles of both images, one bar
    comfy.interrupted = True
    with pytest.raises(comfy.Interrupt):
        execute(mappings, "EnhanceUpscale", image=image, model=str(path), tile=32)
