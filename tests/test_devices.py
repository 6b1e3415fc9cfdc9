"""Device memory helpers: what counts as running out of memory, and giving memory back."""

from __future__ import annotations

import pytest
import torch

from enhance.devices import available_memory, is_out_of_memory, release_memory
from enhance.errors import InputError


def _reported_as_input_error(cause: BaseException) -> InputError:
    """What the upscale stage does: name the file, hide the cause's traceback."""
    try:
        try:
            raise cause
        except MemoryError as exc:
            raise InputError(f"in/huge.png: upscale failed: {exc}") from None
    except InputError as reported:
        return reported


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError(),
        MemoryError("Unable to allocate 3.2 GiB for an array with shape (20000, 20000, 4)"),  # numpy's
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 96000000000 bytes."),
        RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)"),
    ],
)
def test_out_of_memory_errors_are_recognised(exc: BaseException) -> None:
    assert is_out_of_memory(exc)


def test_an_error_reported_from_an_out_of_memory_is_one() -> None:
    assert is_out_of_memory(_reported_as_input_error(MemoryError()))
    try:
        raise RuntimeError("tile failed") from torch.cuda.OutOfMemoryError("CUDA out of memory")
    except RuntimeError as exc:
        assert is_out_of_memory(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("the memory budget is out of memory range"),  # a mention is not an allocator's report
        RuntimeError("Given groups=1, weight of size [64, 3, 3, 3], expected input to have 3 channels"),
        InputError("in/a.png: image data is truncated or corrupt"),
        KeyboardInterrupt(),
    ],
)
def test_other_errors_are_not(exc: BaseException) -> None:
    assert not is_out_of_memory(exc)


def test_a_cycle_of_causes_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert not is_out_of_memory(a)


def test_release_memory_and_available_memory_on_cpu() -> None:
    release_memory(torch.device("cpu"))
    release_memory("cpu")
    assert available_memory(torch.device("cpu")) > 0


@pytest.mark.cuda
def test_release_memory_returns_cached_cuda_blocks() -> None:
    device = torch.device("cuda")
    block = torch.empty(64 << 20, dtype=torch.uint8, device=device)
    del block
    assert torch.cuda.memory_reserved(device) > 0
    release_memory(device)
    assert torch.cuda.memory_reserved(device) == 0
    assert available_memory(device) > 0


def test_a_long_or_odd_device_spec_is_quoted_briefly() -> None:
    from enhance.devices import resolve_device
    from enhance.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        resolve_device("x\x1b" * 100_000)  # e.g. --set device=... from a script gone wrong
    assert len(str(err.value)) < 200 and "\x1b" not in str(err.value) and "(200000 characters)" in str(err.value)


# -- host <-> device copies ------------------------------------------------------------------------


def test_transfer_plan_pins_and_overlaps_only_on_cuda() -> None:
    from enhance.devices import transfer_plan

    for device in ("cpu", torch.device("cpu"), "meta"):
        plan = transfer_plan(device)
        assert (plan.pinned, plan.non_blocking, plan.side_stream) == (False, False, False)
    for device in ("cuda", "cuda:1", torch.device("cuda", 0)):
        plan = transfer_plan(device)
        assert (plan.pinned, plan.non_blocking, plan.side_stream) == (True, True, True)


def test_upload_on_cpu_keeps_the_dtype_and_copies_nothing() -> None:
    import numpy as np

    from enhance.devices import upload

    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    tensor = upload(array, "cpu")
    assert tensor.dtype == torch.uint8 and tensor.device.type == "cpu"
    assert np.shares_memory(tensor.numpy(), array)
    strided = upload(array[:, ::2], "cpu")  # a view that is not contiguous is made so
    assert strided.is_contiguous() and strided.tolist() == array[:, ::2].tolist()


def test_download_on_cpu_is_ready_at_once() -> None:
    from enhance.devices import start_download

    tensor = torch.arange(12, dtype=torch.uint8).reshape(3, 4).t()
    pending = start_download(tensor)
    assert pending.done()
    assert pending.result().tolist() == tensor.tolist()


@pytest.mark.cuda
def test_upload_and_download_on_cuda_are_pinned_and_exact() -> None:
    import numpy as np

    from enhance.devices import start_download, upload

    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(257, 131, 3), dtype=np.uint8)
    on_device = upload(array, "cuda")
    assert on_device.dtype == torch.uint8 and on_device.is_cuda
    doubled = on_device.to(torch.int32) * 2  # queued on the compute stream after the side-stream copy
    pending = start_download(doubled)
    host = pending.result()
    assert pending.done()
    assert np.array_equal(host, array.astype(np.int32) * 2)


def _environ_after(code: str, env: dict[str, str]) -> str:
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True, timeout=300
    )
    return proc.stdout.strip()


def test_first_torch_import_asks_for_huge_pages_unless_told_otherwise() -> None:
    show = "import os; print(os.environ.get('THP_MEM_ALLOC_ENABLE', '-'))"
    first = "from enhance.devices import resolve_device; resolve_device('cpu'); " + show
    assert _environ_after(first, {}) == "1"
    assert _environ_after(first, {"THP_MEM_ALLOC_ENABLE": "0"}) == "0"  # the user's choice stands
