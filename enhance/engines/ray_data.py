"""``enhance run --engine ray``: the same per-file work as the local runner, scheduled by Ray Data.

The driver (this process) plans, keeps the output folder and writes the manifest, exactly as the
local runner does, through :class:`enhance.runfolder.RunFolder`; Ray Data only moves the work of
each file (:mod:`enhance.work`) to where it runs, as one streaming dataset:

``from_items(jobs)`` → ``map(decode)`` (CPU tasks, enhance's own decoder: metadata, 16-bit and
alpha kept) → ``map_batches(PipelineActor)`` (a pool of actors, each building the pipeline and
loading its models once; ``num_gpus`` each) → ``map(encode + atomic write)`` (CPU tasks) → the
driver's ``iter_rows``, where each row is only that file's record (JSON), never its pixels.

Rules the rows keep, because Ray Data is strict about them: every step catches every exception
of its file and passes on a failed record instead (one exception leaving a step would abort the
whole dataset); no column is ever None (None comes back as NaN); one job per block, so files
stream one by one and the object store holds only the few images in flight (a decoded input and
a quantized output each; never the float intermediates, which stay inside the actor).

Object storage (``-o s3://bucket/prefix``, inputs as URIs or local paths) goes through pyarrow's
file systems with what the object store can promise, which is less than a folder (see
:func:`_run_on_store` and the README's "Running on a cluster").

``ray`` is imported inside the functions here, never at import: ``enhance --help`` and the local
runner never load it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ..discovery import Job
from ..errors import ConfigError
from ..events import EventSink, FileFinished, FilesPlanned, Notice, emitter, listening
from ..manifest import MANIFEST_NAME, build_manifest, failure_message, new_record, now, summarize
from ..runfolder import BatchResult, RunFolder, merge_records
from ..work import compute, done_record, failed_record, finish_host_work, read_input, write_output, written

if TYPE_CHECKING:
    import numpy as np
    import pyarrow.fs

    from ..config import OutputSpec, PipelineSpec
    from ..image import Raster
    from ..pipeline import Pipeline

__all__ = ["RayOptions", "is_uri", "run_ray"]

#: CPUs each decode and each encode task asks Ray for (the actors take the rest)
TASK_CPUS = 0.5
#: how long a dataset may go without finishing any block before Ray Data gives up (a single huge
#: image upscaled on a CPU can take long; Ray's default is 30 minutes)
NO_PROGRESS_TIMEOUT_S = 6 * 3600


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the run goes.

    Args:
        address: an existing cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts
            a private local Ray instance for this run (all this machine's CPUs and GPUs).
        workers: model-holding actors (default: one per GPU; on CPUs only, one).
        gpus_per_worker: GPUs per actor (default: 1 when the cluster has GPUs and the pipeline's
            device is not ``cpu``, else 0; 0.5 puts two actors, two model copies, on each GPU).
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None


def is_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names object storage (``s3://bucket/key``, ``gs://…``) rather than a
    local or shared-filesystem path."""
    return "://" in os.fspath(location)


def run_ray(
    spec: PipelineSpec,
    inputs: Sequence[Path | str],
    out_dir: Path | str,
    *,
    device: str | None = None,
    recursive: bool = False,
    pattern: str | None = None,
    overwrite: bool = False,
    config: Path | None = None,
    options: RayOptions | None = None,
    on_event: EventSink | None = None,
) -> BatchResult:
    """Run the pipeline ``spec`` over files and folders on Ray Data, writing under ``out_dir``.

    The same outcome as :func:`enhance.batch.run_batch` (outputs, records, manifest.json, reports,
    exit code) on a shared filesystem; ``out_dir`` as a URI (``s3://bucket/prefix``) writes to
    object storage with the narrower guarantees said in :func:`_run_on_store`.

    Args:
        spec: the validated pipeline; each actor builds it (and loads its models) once.
        device: the pipeline's device override (``cpu`` keeps the actors off GPUs).
        options: the cluster, actors and GPUs per actor (:class:`RayOptions`).
        The rest: as :func:`enhance.batch.run_batch`.

    Raises:
        ConfigError: bad usage, a pipeline that cannot be set up (checked here before Ray starts),
            a cluster that cannot be reached or started, or one without the GPUs asked for.
    """
    options = options or RayOptions()
    emit = emitter(on_event)
    if is_uri(out_dir):
        return _run_on_store(spec, inputs, str(out_dir), device, recursive, pattern, overwrite, config, options, emit)
    if any(is_uri(item) for item in inputs):
        raise ConfigError(
            "inputs on object storage need -o on object storage too (s3://bucket/prefix); "
            "or copy them to a shared filesystem"
        )
    pipeline = _checked_pipeline(spec, device)
    folder = RunFolder(out_dir, "enhance run", on_event=emit)
    with listening(emit), folder:
        planned = folder.plan(inputs, pipeline.output, recursive=recursive, pattern=pattern)
        with _ray_session(options, folder.path) as session:
            plan = session.resources(spec, device, options)
            todo = folder.start(
                planned,
                overwrite=overwrite,
                pipeline=spec.name,
                config=str(config) if config else None,
                device=plan.label,
            )
            rows = [_row(i, job, folder.replaces_unrecorded(job)) for i, job in enumerate(todo)]
            for record in _stream(rows, spec, plan):
                folder.add(record)
    return folder.result


# -- the driver's side: checks, Ray, resources -----------------------------------------------------


def _checked_pipeline(spec: PipelineSpec, device: str | None) -> Pipeline:
    """Build the pipeline on the driver and set it up on the CPU, so that a missing model, bad
    signing settings or a bad stage are a ConfigError before Ray starts (the actors would
    otherwise retry their construction and the run would hang on them)."""
    from ..pipeline import Pipeline

    Pipeline.from_spec(spec, device="cpu").setup()
    pipeline = Pipeline.from_spec(spec, device=device)
    pipeline.signer()
    return pipeline


@dataclass(frozen=True)
class _Plan:
    """How the dataset runs: actors, their GPUs, CPUs and torch threads, and the device they use."""

    workers: int
    gpus: float
    actor_cpus: float
    threads: int
    device: str

    @property
    def label(self) -> str:
        """The manifest's ``device``: what ran the pipeline."""
        return f"ray: {self.workers} x {self.device}" + (f" ({self.gpus:g} GPU each)" if self.gpus else "")


class _RaySession:
    """Ray joined or started for one run; :meth:`resources` sizes the actor pool from it."""

    def __init__(self, started: bool) -> None:
        self.started = started

    def resources(self, spec: PipelineSpec, device: str | None, options: RayOptions) -> _Plan:
        import ray

        total = ray.cluster_resources()
        return plan_resources(
            cpus=float(total.get("CPU", 0)),
            gpus=float(total.get("GPU", 0)),
            device=device or spec.device,
            workers=options.workers,
            gpus_per_worker=options.gpus_per_worker,
        )


def plan_resources(
    *, cpus: float, gpus: float, device: str, workers: int | None, gpus_per_worker: float | None
) -> _Plan:
    """Size the actor pool so it can always make progress.

    On GPUs: ``gpus_per_worker`` each (default 1), ``workers`` default GPUs / gpus_per_worker (one
    model-holding actor per GPU), 1 CPU each. On CPUs only: ``workers`` (default 1) share the CPUs
    left after one for the decode and encode tasks: with every CPU held by actors no decode task
    could ever run and the dataset would stall (Ray's CPU reservations are exclusive), so that is
    refused. Torch's threads in each actor are its CPUs (Ray would otherwise leave it one).

    Raises:
        ConfigError: GPUs asked for where the cluster has none, or more actors than CPUs allow.
    """
    wants_cpu = device == "cpu"
    if gpus_per_worker is None:
        gpus_per_worker = 0.0 if wants_cpu or gpus == 0 else 1.0
    if gpus_per_worker < 0:
        raise ConfigError(f"--gpus-per-worker {gpus_per_worker:g}: must be 0 or more")
    if gpus_per_worker > 0:
        if wants_cpu:
            raise ConfigError("--device cpu with --gpus-per-worker above 0: choose one")
        if gpus < gpus_per_worker:
            raise ConfigError(
                f"the Ray cluster has {gpus:g} GPU(s), fewer than --gpus-per-worker {gpus_per_worker:g}; "
                "pass --gpus-per-worker 0 (or --device cpu) to run on CPUs"
            )
        count = workers or max(1, int(gpus // gpus_per_worker))
        if count * gpus_per_worker > gpus:
            raise ConfigError(
                f"--workers {count} x --gpus-per-worker {gpus_per_worker:g} needs {count * gpus_per_worker:g} GPUs; "
                f"the Ray cluster has {gpus:g}"
            )
        return _Plan(count, gpus_per_worker, 1.0, 1, "cuda")
    if device.startswith("cuda"):
        raise ConfigError(f"the pipeline's device is {device} but the Ray cluster has no GPU; pass --device cpu")
    count = workers or 1
    spare = cpus - 2 * TASK_CPUS  # room for one decode and one encode task at a time
    if spare <= 0 or count > spare / 0.25:
        raise ConfigError(
            f"--workers {count}: the Ray cluster has {cpus:g} CPU(s); the actors must leave at least one "
            "for decoding and encoding (fewer --workers, or a bigger cluster)"
        )
    actor_cpus = spare / count
    if actor_cpus >= 1:
        actor_cpus = float(math.floor(actor_cpus))
    return _Plan(count, 0.0, actor_cpus, max(1, int(actor_cpus)), "cpu")


@contextmanager
def _ray_session(options: RayOptions, folder: Path | None = None) -> Iterator[_RaySession]:
    """Ray for one run: joined, or started and stopped again at the end (Ctrl-C included); after
    stopping a local instance, the temp files its killed writers left in ``folder`` go (never a
    final name: writes are atomic)."""
    session = _RaySession(started=_connect(options.address))
    try:
        yield session
    finally:
        if session.started:
            import ray

            ray.shutdown()
            if folder is not None:
                from ..files import remove_stale_temps

                remove_stale_temps(folder)


def _connect(address: str | None) -> bool:
    """Join the Ray instance this process already runs, the cluster at ``address``, or start a
    private local one (``address="local"``: never whatever ``RAY_ADDRESS`` or a stale head
    names); returns whether this call started it (then the run stops it).

    Raises:
        ConfigError: Ray is not installed, or cannot start or be reached (one line).
    """
    # Ray re-runs its workers through `uv run` (and uploads the working folder: with it, a folder of
    # images) when the driver was started by `uv run`; workers here use the installed enhance
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'enhance[ray]'") from None
    _quiet_loggers()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    try:
        try:
            ray.init(address=address or "local", **kwargs)
        except Exception:
            # a loaded machine can miss Ray's fixed 30 s start-up wait for its raylet: once more
            if ray.is_initialized():
                ray.shutdown()
            ray.init(address=address or "local", **kwargs)
    except Exception as exc:
        from ..errors import first_line

        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        fix = (
            "check the address and that the head runs the same Ray version"
            if address
            else "start one with `ray start --head` and pass --address auto"
        )
        raise ConfigError(f"{where} could not be reached or started ({first_line(exc, limit=160)}); {fix}") from None
    return True


def _quiet_loggers() -> None:
    """Ray's INFO and WARNING lines (execution plans, "finished in…") off: the run's events say
    what happened, and the command line draws its own progress."""
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _quiet_data_context() -> None:
    """Ray Data's own progress bars, plans and statistics off: the command line draws its own."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.execution_no_progress_timeout_s = NO_PROGRESS_TIMEOUT_S  # may not exist in older Rays: harmless


def _stream(
    rows: list[dict[str, Any]], spec: PipelineSpec, plan: _Plan, store: bool = False
) -> Iterator[dict[str, Any]]:
    """Run ``rows`` through decode → actors → encode; yields each file's record as it finishes
    (completion order: the output folder sorts them back into plan order)."""
    if not rows:
        return
    import ray.data

    _quiet_data_context()
    ds = ray.data.from_items(rows, override_num_blocks=len(rows))  # one job per block: files stream singly
    ds = ds.map(_decode_row, num_cpus=TASK_CPUS)
    ds = ds.map_batches(
        PipelineActor,
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=plan.workers, max_tasks_in_flight_per_actor=1),
        num_gpus=plan.gpus or None,
        num_cpus=plan.actor_cpus,
        fn_constructor_kwargs={"spec": spec, "device": plan.device, "threads": plan.threads},
    )
    ds = ds.map(_encode_row, num_cpus=TASK_CPUS, fn_kwargs={"spec": spec})
    for row in ds.iter_rows():
        yield json.loads(row["record"])


# -- the rows and what runs on the workers -------------------------------------------------------

#: what a row carries before it has pixels, or after it failed (Ray Data turns None into NaN)
_NO_META = b""


def _no_pixels() -> np.ndarray:
    import numpy as np

    return np.zeros((1, 1, 1), dtype=np.uint8)


def _row(index: int, job: Job, replaces: bool, uri: str = "", out_uri: str = "") -> dict[str, Any]:
    """A job as the dataset's first row: plain strings and numbers only."""
    return {
        "index": index,
        "source": os.fspath(job.source),
        "relative": job.relative.as_posix(),
        "destination": os.fspath(job.destination),
        "replaces": replaces,
        "cwd": os.getcwd(),  # a relative input path means the same file on the workers
        "uri": uri,  # object storage: the input's URI ("" for a file)
        "out_uri": out_uri,  # object storage: the output's URI
        "final": False,  # the record is this file's last word (it failed)
        "record": "",
    }


def _job(row: dict[str, Any]) -> Job:
    return Job(Path(str(row["source"])), Path(str(row["relative"])), Path(str(row["destination"])))


def _same_cwd(row: dict[str, Any]) -> None:
    """Work where the driver works, so that a relative input path reads the same file and its
    errors name it the same way (a worker of a local instance, or of a cluster on a shared
    filesystem mounted at the same path)."""
    cwd = str(row["cwd"])
    if cwd and os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)


def _failed_row(row: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    return {**row, "final": True, "record": json.dumps(record), "pixels": _no_pixels(), "meta": _NO_META, "read_s": 0.0}


def _decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """Decode one input (a CPU task): its pixels and pickled metadata, or its failed record."""
    job = _job(row)
    try:
        _same_cwd(row)
        if row["uri"]:
            raster, seconds = _read_from_store(str(row["uri"]), job)
        else:
            raster, seconds = read_input(job)
    except Exception as exc:
        return _failed_row(row, _store_record(row, failed_record(job, exc), exc))
    return {**row, "pixels": raster.array, "meta": pickle.dumps(raster.meta), "read_s": seconds}


class PipelineActor:
    """The pipeline, built and set up (models loaded) once per actor; runs one file per call.

    Ray has already narrowed ``CUDA_VISIBLE_DEVICES`` to this actor's GPU, so its device is plain
    ``cuda``. Torch gets ``threads`` threads (Ray leaves an actor one unless told).
    """

    def __init__(self, spec: PipelineSpec, device: str, threads: int) -> None:
        import torch

        from ..pipeline import Pipeline

        torch.set_num_threads(threads)
        self.pipeline = Pipeline.from_spec(spec, device=device)
        self.pipeline.setup()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        row = {key: _scalar(values[0]) for key, values in batch.items()}
        return {key: _column(value) for key, value in self._one(row).items()}

    def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["final"]:
            return row
        import numpy as np

        from ..image import Raster

        job = _job(row)
        read_s = float(row["read_s"])
        try:
            # a private, writable copy: the batch is a read-only view of the object store
            raster = Raster(np.array(row["pixels"]), pickle.loads(row["meta"]))
            computed = compute(self.pipeline, raster, job)
            record = done_record(job, raster, computed, read_seconds=read_s, replaces_unrecorded=bool(row["replaces"]))
            # the score stage's CPU work, left by compute for the runner: here, in the actor (its
            # items do not travel to the encode task; the written file's shortcut is not taken)
            finish_host_work(record, computed.host_work)
        except Exception as exc:
            failed = failed_record(job, exc, timings={"read": round(read_s, 4)})
            return _failed_row(row, _store_record(row, failed, exc))
        out = computed.raster
        return {**row, "record": json.dumps(record), "pixels": out.array, "meta": pickle.dumps(out.meta)}


def _scalar(value: Any) -> Any:
    """A numpy batch's element as the plain value the row held."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    return value


def _column(value: Any) -> Any:
    """One value as a one-row batch column."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value[np.newaxis]
    column = np.empty(1, dtype=object) if isinstance(value, (bytes, str)) else np.array([value])
    column[0] = value
    return column


_WRITERS: dict[str, Pipeline] = {}


def _writer(spec: PipelineSpec) -> Pipeline:
    """The pipeline an encode task writes with (its output spec and signer; no model is
    loaded), built once per worker process."""
    from ..pipeline import Pipeline

    key = repr(spec)
    if key not in _WRITERS:
        _WRITERS[key] = Pipeline.from_spec(spec, device="cpu")
    return _WRITERS[key]


def _encode_row(row: dict[str, Any], spec: PipelineSpec) -> dict[str, Any]:
    """Encode and write one output atomically (a CPU task); the row that goes back to the
    driver is the file's record only."""
    if row["final"]:
        return {"index": row["index"], "record": row["record"]}
    import numpy as np

    from ..image import Raster

    job = _job(row)
    record = json.loads(row["record"])
    try:
        _same_cwd(row)
        raster = Raster(np.asarray(row["pixels"]), pickle.loads(row["meta"]))
        if row["out_uri"]:
            seconds, file_stamp = _write_to_store(str(row["out_uri"]), job, raster, _writer(spec))
        else:
            seconds, file_stamp = write_output(job, raster, _writer(spec))
    except Exception as exc:
        failed = failed_record(job, exc, timings=record["timings"], size=record["size"])
        record = _store_record(row, failed, exc)
    else:
        record = _store_record(row, written(record, seconds, file_stamp))
    return {"index": row["index"], "record": json.dumps(record)}


# -- object storage --------------------------------------------------------------------------------

_FILESYSTEMS: dict[str, pyarrow.fs.FileSystem] = {}


def _filesystem(uri: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """pyarrow's file system for ``uri`` and the path in it (``bucket/key``), the file system
    built once per process and bucket. Credentials and endpoint come from the environment
    (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, an instance role…), on every worker, so no
    secret travels in the dataset's tasks."""
    import pyarrow.fs

    scheme, _, rest = uri.partition("://")
    bucket = rest.split("/", 1)[0]
    key = f"{scheme}://{bucket}"
    if key not in _FILESYSTEMS:
        _FILESYSTEMS[key] = pyarrow.fs.FileSystem.from_uri(uri)[0]
    path = rest.rstrip("/")
    return _FILESYSTEMS[key], path


def _read_from_store(uri: str, job: Job) -> tuple[Raster, float]:
    """Read and decode one object, its errors naming the URI as a file's name its path."""
    from .. import io
    from ..errors import InputError

    t0 = time.perf_counter()
    fs, path = _filesystem(uri)
    try:
        with fs.open_input_file(path) as stream:
            data = stream.read()
    except FileNotFoundError:
        raise InputError(f"{uri}: not found; check the URI") from None
    except OSError as exc:
        raise InputError(f"{uri}: cannot be read ({exc}); check the credentials and the endpoint") from None
    raster = io.decode_bytes(data, uri)
    return raster, time.perf_counter() - t0


def _write_to_store(uri: str, job: Job, raster: Raster, pipeline: Pipeline) -> tuple[float, dict[str, int]]:
    """Encode in memory, then write the object in one piece: a reader sees the whole object or
    none (an exception inside an open upload would commit the part written so far)."""
    from ..io import encode_bytes

    t0 = time.perf_counter()
    data = encode_bytes(raster, **pipeline.output.encode_options(job.source))
    fs, path = _filesystem(uri)
    with fs.open_output_stream(path) as stream:
        stream.write(data)
    return time.perf_counter() - t0, {"bytes": len(data)}


def _store_record(row: dict[str, Any], record: dict[str, Any], exc: BaseException | None = None) -> dict[str, Any]:
    """A record made by :mod:`enhance.work` from an object's key, given its URIs back (and its
    error the URI as the file's name). A file's record is returned as it is."""
    uri, out_uri = str(row.get("uri", "")), str(row.get("out_uri", ""))
    if not out_uri:
        return record
    record["input"] = uri or str(Path(str(row["source"])).resolve())
    record["output"] = out_uri
    if exc is not None and record.get("error"):
        record["error"] = failure_message(exc, uri or str(row["source"]), PurePosixPath(str(row["relative"])))
    return record


def _run_on_store(
    spec: PipelineSpec,
    inputs: Sequence[Path | str],
    out_uri: str,
    device: str | None,
    recursive: bool,
    pattern: str | None,
    overwrite: bool,
    config: Path | None,
    options: RayOptions,
    emit: EventSink,
) -> BatchResult:
    """A run whose output is on object storage (``s3://bucket/prefix``): what holds and what does not.

    Holds, as on a folder: the mirrored tree of keys, per-file failures with the same one-line
    errors, the same records, exit codes, and no partial output (each object is encoded in
    memory, then written in one PUT; an upload cut off stays invisible). manifest.json is written
    to the prefix at the end, interrupted or not, with the records of earlier runs of inputs this
    run did not touch.

    Differs: no lock (two runs into one prefix are not stopped: do not start them); no journal
    (a driver killed outright loses this run's records: a rerun skips the outputs that exist
    and records them as skipped without their results); resume is by listing: an output key
    that exists is skipped; reports (json/csv/html) are not written, manifest.json has it all;
    content-credential signing is refused.
    """
    pipeline = _checked_pipeline(spec, device)
    if pipeline.output.content_credentials is not None:
        raise ConfigError("output.content_credentials (signing) is not supported with -o on object storage")
    result = BatchResult(manifest_path=None)
    with listening(emit):
        earlier = _read_store_manifest(out_uri, emit)
        jobs = _plan_store(inputs, out_uri, pipeline.output, recursive=recursive, pattern=pattern)
        existing = _existing_keys(out_uri)
        started = now()
        skipped, todo = [], []
        for job, uri, dest in jobs:
            if not overwrite and dest.split("://", 1)[1] in existing:
                skipped.append(_store_skipped(job, uri, dest, earlier.get(uri, {})))
            else:
                todo.append((job, uri, dest))
        emit(FilesPlanned(len(todo), len(skipped)))
        for record in skipped:
            result.records.append(record)
            emit(FileFinished(record))
        interrupted = False
        plan_label = ""
        try:
            with _ray_session(options) as session:
                plan = session.resources(spec, device, options)
                plan_label = plan.label
                rows = [
                    _row(i, job, False, uri=uri if is_uri(uri) else "", out_uri=dest)
                    for i, (job, uri, dest) in enumerate(todo)
                ]
                for record in _stream(rows, spec, plan):
                    result.records.append(record)
                    emit(FileFinished(record))
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            order = {uri: i for i, (_, uri, _) in enumerate(jobs)}
            result.records.sort(key=lambda r: order.get(r["input"], len(order)))
            result.interrupted = interrupted
            data = build_manifest(
                "run",
                merge_records(result.records, earlier),
                started=started,
                pipeline=spec.name,
                config=str(config) if config else None,
                device=plan_label or None,
                interrupted=interrupted,
                this_run=summarize(result.records),
            )
            _put_manifest(out_uri, data, result, emit)
    return result


def _plan_store(
    inputs: Sequence[Path | str], out_uri: str, output: OutputSpec, *, recursive: bool, pattern: str | None
) -> list[tuple[Job, str, str]]:
    """Each input as (job, its URI or path, its output's URI): object listings and local files
    alike, mirrored under ``out_uri``. The job's paths are the objects' keys (what the pipeline
    and the records' ``relative`` use).

    Raises:
        ConfigError: an input that does not exist, or two inputs with one output.
    """
    import fnmatch

    import pyarrow.fs

    from ..discovery import discover
    from ..files import is_temp_name
    from ..io import SUPPORTED_SUFFIXES

    suffixes = {s.lower() for s in SUPPORTED_SUFFIXES}
    out_fs, out_path = _filesystem(out_uri)
    found: list[tuple[str, str, PurePosixPath]] = []  # (uri, key or path, relative)
    for item in map(str, inputs):
        if not is_uri(item):
            found += [
                (str(p.resolve()), str(p.resolve()), PurePosixPath(r.as_posix()))
                for p, r in discover([item], recursive=recursive, pattern=pattern)
            ]
            continue
        fs, base = _filesystem(item)
        scheme = item.split("://", 1)[0]
        try:
            info = fs.get_file_info(base)
        except OSError as exc:
            raise ConfigError(f"{item}: cannot be listed ({exc}); check the credentials and the endpoint") from None
        if info.type == pyarrow.fs.FileType.File:
            found.append((item, base, PurePosixPath(PurePosixPath(base).name)))
            continue
        if info.type != pyarrow.fs.FileType.Directory:
            raise ConfigError(f"{item}: input not found; give existing objects or prefixes")
        listing = fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=recursive))
        for entry in sorted((e for e in listing if e.type == pyarrow.fs.FileType.File), key=lambda e: e.path):
            relative = PurePosixPath(entry.path).relative_to(base)
            if any(part.startswith(".") for part in relative.parts) or is_temp_name(relative.name):
                continue
            if relative.suffix.lower() not in suffixes or (fs is out_fs and entry.path.startswith(out_path + "/")):
                continue
            if pattern and not (
                fnmatch.fnmatch(relative.as_posix(), pattern) or fnmatch.fnmatch(relative.name, pattern)
            ):
                continue
            found.append((f"{scheme}://{entry.path}", entry.path, relative))
    scheme = out_uri.split("://", 1)[0]
    planned: list[tuple[Job, str, str]] = []
    seen: dict[str, str] = {}
    for uri, key, relative in found:
        name = f"{relative.stem}{output.suffix}{output.suffix_for(Path(key))}"
        dest_key = "/".join(p for p in (out_path, *relative.parent.parts, name) if p and p != ".")
        dest = f"{scheme}://{dest_key}"
        if dest in seen:
            raise ConfigError(
                f"{uri} and {seen[dest]} would both be written to {dest}; "
                "keep each input's format (--set output.format=same) or leave one of them out"
            )
        seen[dest] = uri
        planned.append((Job(Path(key), Path(relative.as_posix()), Path(dest_key)), uri, dest))
    return planned


def _existing_keys(out_uri: str) -> set[str]:
    """The keys under the output prefix, listed once (resume on object storage)."""
    import pyarrow.fs

    fs, base = _filesystem(out_uri)
    if fs.get_file_info(base).type != pyarrow.fs.FileType.Directory:
        return set()
    listing = fs.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    return {e.path for e in listing if e.type == pyarrow.fs.FileType.File}


def _store_skipped(job: Job, uri: str, dest: str, earlier: dict[str, Any]) -> dict[str, Any]:
    """The record of an output that exists: the earlier record's results when it made it."""
    made = earlier.get("status") in ("done", "skipped") and earlier.get("output") == dest
    record = new_record(
        job.source,
        job.relative,
        "skipped",
        timings=earlier.get("timings", {}) if made else {},
        results=earlier.get("results", {}) if made else {},
        size=earlier.get("size", {}) if made else {},
        warnings=["output exists; rerun with --overwrite to redo it"],
    )
    if made and "written" in earlier:
        record["written"] = earlier["written"]
    record["input"], record["output"] = uri, dest
    return record


def _read_store_manifest(out_uri: str, emit: EventSink) -> dict[str, dict[str, Any]]:
    """The records of the manifest.json an earlier run left under the prefix, by input."""
    fs, base = _filesystem(out_uri)
    try:
        with fs.open_input_file(f"{base}/{MANIFEST_NAME}") as stream:
            data = json.loads(stream.read())
        return {r["input"]: r for r in data["files"] if isinstance(r, dict) and "input" in r}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        emit(Notice("warning", f"{out_uri}/{MANIFEST_NAME}: cannot be used ({exc}); its records are not kept"))
        return {}


def _put_manifest(out_uri: str, data: dict[str, Any], result: BatchResult, emit: EventSink) -> None:
    """manifest.json under the prefix, in one PUT; one error line (and exit 1) when it fails."""
    fs, base = _filesystem(out_uri)
    body = (json.dumps(data, indent=2, ensure_ascii=True) + "\n").encode("ascii")
    target = f"{out_uri.rstrip('/')}/{MANIFEST_NAME}"
    try:
        with fs.open_output_stream(f"{base}/{MANIFEST_NAME}") as stream:
            stream.write(body)
    except OSError as exc:
        line = f"{target}: cannot be written ({exc}); the outputs are kept: rerun to write it"
        result.unwritten.append(line)
        emit(Notice("error", line))
    else:
        result.manifest_path = target  # type: ignore[assignment]  # a URI, said as it is
