"""C-simulation worker, run as a subprocess so a C++ assert or crash cannot kill the caller.

    python -m fpga_flow.verify.worker JOB.json

JOB.json: {"lib": path, "firmware": dir, "inputs": x.npy, "outputs": y.npy, "output_size": n,
           "trace": null | {"layers": [{"name", "shape"}], "out": trace.npz},
           "progress": null | a file that gets one byte per finished image}
Only numpy and ctypes are imported (no TensorFlow), so start-up is fast.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys

import numpy as np
import numpy.ctypeslib as npc


class _TraceData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]


def main(job_path: str) -> int:
    job = json.loads(open(job_path).read())
    lib = ctypes.cdll.LoadLibrary(os.path.abspath(job["lib"]))
    os.chdir(job["firmware"])  # weights are read from ./weights at first call
    load = getattr(lib, "myproject_load_weights", None)
    if load is not None:  # weights in URAM: filled through the top function's load port (hls/weight_load.py)
        load.restype = ctypes.c_int
        load.argtypes = [ctypes.c_char_p]
        rc = load(b"weights/weights.bin")
        if rc != 0:
            why = {-1: "cannot be read", -2: "has the wrong size", -3: "has words left over"}.get(rc, f"error {rc}")
            raise SystemExit(f"weight-load path: firmware/weights/weights.bin {why}")
    x = np.ascontiguousarray(np.load(job["inputs"]).astype(np.float64))
    n = x.shape[0]
    x = x.reshape(n, -1)
    n_out = int(job["output_size"])
    top = lib.myproject_double
    top.restype = None
    top.argtypes = [npc.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")] * 2
    y = np.zeros((n, n_out), dtype=np.float64)
    trace = job.get("trace")
    traces = {}
    if trace:
        layers = {l["name"]: l["shape"] for l in trace["layers"]}
        lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
        lib.collect_trace_output.argtypes = [ctypes.POINTER(_TraceData)]
        buf = (_TraceData * (2 * len(layers) + 2))()
        lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_double))
        traces = {k: [] for k in layers}
    # one byte per finished image: the caller's progress bar counts them (verify/csim.py)
    tick = open(job["progress"], "ab", buffering=0) if job.get("progress") else None
    for i in range(n):
        out = np.zeros(n_out, dtype=np.float64)
        top(np.ascontiguousarray(x[i]), out)
        y[i] = out
        if tick is not None:
            tick.write(b".")
        if trace:
            lib.collect_trace_output(buf)
            for t in buf:
                if not t.name:
                    continue
                name = t.name.decode()
                if name in layers:
                    shape = layers[name]
                    ptr = ctypes.cast(t.data, ctypes.POINTER(ctypes.c_double))
                    traces[name].append(np.ctypeslib.as_array(ptr, shape=(int(np.prod(shape)),)).copy().reshape(shape))
    if tick is not None:
        tick.close()
    if trace:
        lib.free_trace_storage()
        np.savez(trace["out"], **{k: np.asarray(v) for k, v in traces.items() if v})
    np.save(job["outputs"], y)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
