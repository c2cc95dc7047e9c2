"""C-simulation on a Dask cluster (``--scheduler local[:N] | tcp://HOST:PORT``).

* ``local`` starts a ``dask.distributed.LocalCluster`` on this machine (one single-threaded worker
  process per core, or N); ``tcp://HOST:PORT`` connects to a running scheduler (``dask scheduler``
  on one machine, ``dask worker tcp://HOST:PORT --nthreads 1`` on each of the others).
* **The project travels to the workers** in one of two ways:
  ``ship`` (default): the client packs ``hls4ml_prj/`` (sources, weights, build script; not the
  compiled library) into one compressed archive, scatters it to every worker once, and each worker
  unpacks it into its own local directory and compiles the C-sim library once (cached per worker
  process by the archive's SHA-256), every worker at the same time before any image is sent
  (``prepare_seconds``; ``images_per_second`` counts the C-sim only). Works on any cluster, nothing
  shared needed.
  ``shared``: the build directory is at the same path on every worker (NFS or similar); workers use
  its compiled library directly (compiled by ``build``).
* **Every image exactly once**: images are cut into batches with their indices; each batch is a
  task (``retries=2``); a worker that dies mid-task loses its tasks to the scheduler, which runs
  them again elsewhere. The client places every returned batch by index and checks that each index
  arrived exactly once before it compares anything.
* Each task runs the C-sim in a subprocess on its worker (``fpga_flow.verify.worker``), as local
  runs do, so a C++ crash fails one task, not the worker.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .. import outdir, project
from .. import progress as progress_bars
from ..errors import FlowError

_LIBS: dict[str, str] = {}  # per worker process: archive sha -> compiled library path
_LOCK = threading.Lock()


def parse_scheduler(spec: str) -> tuple[str, int | None]:
    """'local' | 'local:N' | 'tcp://HOST:PORT' -> (kind or address, n_workers)."""
    s = str(spec).strip()
    if s == "local":
        return "local", None
    if s.startswith("local:"):
        n = s.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise FlowError(f"--scheduler {spec!r}: use local, local:N with N >= 1 workers, or tcp://HOST:PORT")
        return "local", int(n)
    if s.startswith(("tcp://", "tls://")) and ":" in s.split("://", 1)[1]:
        return s, None
    raise FlowError(f"--scheduler {spec!r}: use local, local:N (N workers on this machine) or tcp://HOST:PORT "
                    "of a running 'dask scheduler'")


class Cluster:
    """Context manager: a Dask client (and the LocalCluster it started, if any)."""

    def __init__(self, spec: str):
        self.kind, self.n = parse_scheduler(spec)
        self.cluster = self.client = None

    def __enter__(self):
        import dask
        from dask.distributed import Client, LocalCluster

        import logging

        dask.config.set({"distributed.worker.daemon": False})
        for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
            logging.getLogger(name).setLevel(logging.ERROR)
        if self.kind == "local":
            n = self.n or os.cpu_count() or 1
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                        silence_logs=40)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.kind, timeout="20s")
            except OSError as e:
                raise FlowError(f"--scheduler {self.kind}: cannot connect ({e}); start 'dask scheduler' there "
                                "or use --scheduler local") from None
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def pack_project(build_dir: Path) -> bytes:
    """hls4ml_prj/ as a gzipped tar, without compiled libraries and objects."""
    prj = Path(build_dir) / project.PROJECT
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(prj.rglob("*")):
            if p.is_file() and p.suffix not in (".so", ".o"):
                tar.add(p, arcname=str(p.relative_to(prj)))
    return buf.getvalue()


def _worker_library(archive: bytes, sha: str) -> str:
    """On a worker: unpack the shipped project once and compile its C-sim library once."""
    with _LOCK:
        if sha in _LIBS and Path(_LIBS[sha]).is_file():
            return _LIBS[sha]
        try:
            from dask.distributed import get_worker

            base = Path(get_worker().local_directory)
        except (ImportError, ValueError):
            base = Path(tempfile.gettempdir())
        root = base / f"fpga_flow_prj_{sha[:16]}"
        prj = root / project.PROJECT
        if not prj.is_dir():
            tmp = Path(tempfile.mkdtemp(dir=base, prefix=".unpack-"))
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                try:
                    tar.extractall(tmp / project.PROJECT, filter="data")
                except TypeError:  # Python without extraction filters (< 3.10.12 / 3.11.4)
                    tar.extractall(tmp / project.PROJECT)
            tmp.rename(root)
        lib = project.compile_library(root)
        _LIBS[sha] = str(lib)
        return _LIBS[sha]


def _csim_batch(lib: str | None, archive, sha: str | None, x: np.ndarray, idx: np.ndarray, output_size: int):
    """One task: C-sim of the batch ``x`` (images ``idx``) in a subprocess on this worker."""
    if lib is None:
        lib = _worker_library(archive, sha)
    with outdir.scratch("task") as td:
        td = Path(td)
        np.save(td / "x.npy", x)
        job = {"lib": lib, "firmware": str(Path(lib).parent), "inputs": str(td / "x.npy"),
               "outputs": str(td / "y.npy"), "output_size": output_size, "trace": None}
        (td / "job.json").write_text(json.dumps(job))
        r = subprocess.run([sys.executable, "-m", "fpga_flow.verify.worker", str(td / "job.json")],
                           capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            raise RuntimeError("C-simulation crashed (exit code %d): %s" % (r.returncode, " | ".join(msg[-4:])))
        return idx, np.load(td / "y.npy"), os.getpid()


def _prepare(client, pinned: dict, *, poll: float = 0.2, no_workers_s: float = 120.0) -> None:
    """Wait for the unpack-and-compile task pinned to each worker (address -> future). A worker that
    leaves the cluster meanwhile (killed: a restarted one has a new address) would keep its pinned task
    waiting for ever: that task is cancelled, and the worker that replaces it prepares on its first
    batch instead. A compile error is raised; a cluster with no worker for ``no_workers_s``: RuntimeError."""
    pending = dict(pinned)
    empty_since = None
    while pending:
        alive = set(client.scheduler_info().get("workers", {}))
        for a, f in list(pending.items()):
            if f.done():
                f.result()  # raises the worker's error (e.g. the C-sim library does not compile)
                del pending[a]
            elif a not in alive:
                f.cancel()
                del pending[a]
        empty_since = None if alive else (empty_since or time.monotonic())
        if empty_since is not None and time.monotonic() - empty_since > no_workers_s:
            raise RuntimeError(f"the Dask cluster has had no worker for {no_workers_s:.0f} s")
        if pending:
            time.sleep(poll)


def run_csim_dask(client, out: str | Path, x: np.ndarray, *, mode: str = "ship", batch: int | None = None,
                  progress: bool = True) -> tuple[np.ndarray, dict]:
    """C-sim outputs (n, output_size) computed on the cluster, and run statistics."""
    from dask.distributed import as_completed

    m = project.load_manifest(out)
    if list(x.shape[1:]) != list(m["input_shape"]):
        raise FlowError(f"inputs have shape {list(x.shape[1:])}, the model needs {m['input_shape']}")
    n = len(x)
    workers = len(client.scheduler_info().get("workers", {}))
    if workers < 1:
        raise FlowError("the Dask cluster has no workers; start some with 'dask worker tcp://HOST:PORT'")
    batch = batch or max(1, min(32, -(-n // (4 * workers))))  # ~4 tasks per worker: balance + cheap retries
    t_prep = time.perf_counter()
    if mode == "shared":
        lib, archive, sha = str(project.ensure_library(out).resolve()), None, None
    elif mode == "ship":
        data = pack_project(Path(out))
        sha = hashlib.sha256(data).hexdigest()
        lib, archive = None, client.scatter(data, broadcast=True, hash=False)
        # every worker unpacks and compiles once, all at the same time, before any image is sent
        # (else the first batches would wait behind one worker's compile and the rest behind another's)
        addrs = list(client.scheduler_info().get("workers", {}))
        _prepare(client, {a: client.submit(_worker_library, archive, sha, workers=[a], allow_other_workers=False,
                                           pure=False) for a in addrs})
    else:
        raise FlowError(f"--project {mode!r}: use ship or shared")
    prepare_seconds = time.perf_counter() - t_prep
    t0 = time.perf_counter()
    futures = []
    for start in range(0, n, batch):
        idx = np.arange(start, min(n, start + batch))
        futures.append(client.submit(_csim_batch, lib, archive, sha, x[idx], idx, int(m["output_size"]),
                                     retries=2, pure=False))
    y = np.zeros((n, int(m["output_size"])), dtype=np.float64)
    seen = np.zeros(n, dtype=np.int64)
    pids = set()
    bar = None
    if progress:  # on a terminal only, never with --json (fpga_flow.progress)
        bar = progress_bars.bar(total=n, unit="img", desc="C-sim (dask)", leave=False)
    try:
        for fut in as_completed(futures):
            idx, yb, pid = fut.result()
            y[idx] = yb
            seen[idx] += 1
            pids.add(pid)
            if bar is not None:
                bar.update(len(idx))
    except Exception as e:
        for f in futures:
            f.cancel()
        if isinstance(e, FlowError):
            raise
        raise RuntimeError(f"C-simulation on the cluster failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        if bar is not None:
            bar.close()
    if not np.all(seen == 1):  # every image exactly once, whatever the cluster did
        raise RuntimeError(f"cluster returned images {np.flatnonzero(seen != 1)[:8].tolist()} "
                           f"{seen[seen != 1][:8].tolist()} times")
    dt = time.perf_counter() - t0
    return y, {"workers": workers, "tasks": len(futures), "batch": batch, "images_per_second": round(n / dt, 3),
               "csim_wall_seconds": round(dt, 2), "prepare_seconds": round(prepare_seconds, 2), "project": mode}
