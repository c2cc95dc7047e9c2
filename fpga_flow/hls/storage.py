"""Storage of every weight array and FIFO written explicitly, as the resource plan decided it.

After hls4ml writes the project, ``write(prj, plan, nodes, backend)``:

* puts, in the top function (myproject.cpp, right after ``#pragma HLS DATAFLOW``), one block per
  weighted layer: the weight array's reshape into ``reuse_factor`` words of
  ``block_factor = ceil(n_weights / reuse_factor)`` weights (the factor the Resource kernels use) and
  its binding to the primitive the plan chose::

      // conv1: weights w3 = 9 x 1536 bits (RF 9) -> lutram; biases b3 -> registers
      #pragma HLS ARRAY_RESHAPE variable=w3 block factor=192 dim=1
      #pragma HLS bind_storage variable=w3 type=rom_1p impl=lutram
      #pragma HLS ARRAY_PARTITION variable=b3 complete dim=1

  (Vivado backend: ``#pragma HLS RESOURCE variable=w3 core=ROM_1P_LUTRAM``.) A weight ROM the plan
  keeps in registers (depth <= 2) is reshaped ``complete`` and not bound. ``rom_1p``: every kernel
  reads one ROM word per clock.
* binds every FIFO the plan puts in SRL, LUTRAM, BRAM or URAM next to its ``#pragma HLS STREAM``
  (``bind_storage variable=layerN_out type=fifo impl=srl|bram|uram``; Vivado ``RESOURCE core=FIFO_SRL``
  ...). Depth-2 FIFOs (plan: flip-flops) are not bound: no memory primitive holds them.
* removes hls4ml 1.3.0's ``#pragma HLS RESOURCE variable=weights core=ROM_nP_BRAM`` from the
  written ``nnet_utils/nnet_dense_resource.h`` (it bound every weight array with RF > 1 to BRAM,
  whatever the plan said); the kernels keep their ``ARRAY_RESHAPE ... block factor=block_factor``,
  which equals the top-level reshape.

Not bound (stated in the audit's listing): line buffers. Stock convolutions' ``ap_shift_reg`` line
buffers are shift registers (SRL) by construction; the pooling extensions' row RAMs are static arrays
inside their kernels and left to HLS (the fitter therefore never moves them to URAM).

1x1 convolutions never reach stock ``pointwise_conv_2d_cl`` (which partitions its weights
completely): ``convert`` disables hls4ml's pointwise rewrite, so they stay ``Conv2D`` and use the same
line-buffer Resource kernel (``dense_resource``, a ROM of ``reuse_factor`` words) as the 3x3 ones.
"""
from __future__ import annotations

import contextlib
import re
from pathlib import Path

# impl the plan chose -> binding written (None: not bound)
_VITIS_ROM = {"bram": "type=rom_1p impl=bram", "lutram": "type=rom_1p impl=lutram"}
_VIVADO_ROM = {"bram": "core=ROM_1P_BRAM", "lutram": "core=ROM_1P_LUTRAM"}
_VITIS_FIFO = {"srl": "type=fifo impl=srl", "lutram": "type=fifo impl=lutram", "bram": "type=fifo impl=bram",
               "uram": "type=fifo impl=uram"}
_VIVADO_FIFO = {"srl": "core=FIFO_SRL", "lutram": "core=FIFO_LUTRAM", "bram": "core=FIFO_BRAM"}
URAM_WEIGHTS = "type=ram_1p impl=uram"  # written once by the load path, then read one word per clock

ANCHOR = "    #pragma HLS DATAFLOW\n"
HEADER = "    // fpga_flow storage plan (hls/storage.py): each weight array's shape and primitive, as planned\n"
ROM_PRAGMA_RE = re.compile(r"\n[ \t]*if \(CONFIG_T::reuse_factor > 1\) \{\n[ \t]*#pragma HLS RESOURCE variable=weights "
                           r"core=ROM_nP_BRAM\n[ \t]*\}\n")
ROM_PRAGMA_NOTE = ("\n    // fpga_flow: hls4ml's BRAM binding of the weights (a RESOURCE pragma) removed; the weight array's\n"
                   "    // storage is bound in the top function (myproject.cpp) as the resource plan chose.\n")


def rom_binding(backend: str, var: str, impl: str) -> str | None:
    """The binding pragma of a weight array the plan puts in ``impl`` (None for registers): a ROM,
    or in URAM (Vitis) a RAM that the weight-load path fills at start-up (hls/weight_load.py)."""
    if impl in ("ff", ""):
        return None
    if impl == "uram" and backend == "Vitis":
        return _pragma(backend, var, URAM_WEIGHTS)
    table = _VITIS_ROM if backend == "Vitis" else _VIVADO_ROM
    if impl not in table:
        raise ValueError(f"weight array {var}: no {backend} binding for weights in {impl!r}")
    return _pragma(backend, var, table[impl])


def fifo_binding(backend: str, var: str, impl: str) -> str | None:
    if impl in ("ff", ""):
        return None
    table = _VITIS_FIFO if backend == "Vitis" else _VIVADO_FIFO
    if impl not in table:
        raise ValueError(f"FIFO {var}: no {backend} binding for a FIFO in {impl!r}")
    return _pragma(backend, var, table[impl])


def _pragma(backend, var, what):
    kw = "bind_storage" if backend == "Vitis" else "RESOURCE"
    return f"#pragma HLS {kw} variable={var} {what}"


def parse_binding(line: str) -> tuple[str, str, str] | None:
    """(variable, type, impl) of a bind_storage / RESOURCE pragma line; impl in bram|lutram|uram|srl|
    auto|..., type in rom|ram|fifo."""
    m = re.search(r"#pragma\s+HLS\s+bind_storage\b(.*)", line, re.I)
    if m:
        args = dict(re.findall(r"(\w+)\s*=\s*([\w,]+)", m.group(1)))
        var, typ, impl = args.get("variable"), args.get("type", "").lower(), args.get("impl", "auto").lower()
        return (var, typ.split("_")[0], impl) if var else None
    m = re.search(r"#pragma\s+HLS\s+RESOURCE\b(.*)", line, re.I)
    if m:
        args = dict(re.findall(r"(\w+)\s*=\s*([\w,]+)", m.group(1)))
        var, core = args.get("variable"), args.get("core", "").upper()
        if not var:
            return None
        typ = core.split("_")[0].lower()
        impl = next((i for i in ("lutram", "bram", "uram", "srl") if core.endswith(i.upper())), "auto")
        return var, typ, impl
    return None


def weight_block(layer: dict, rec: dict, backend: str) -> list[str]:
    """Pragma lines (with one comment line) for one layer's weight and bias arrays.

    ``layer``: {"layer", "reuse_factor", "memories": [Memory.to_dict(), ...]} as in flow.json;
    ``rec``: the layer's record in the design (resources/design.py)."""
    w = next((m for m in layer["memories"] if m["kind"] == "weights"), None)
    b = next((m for m in layer["memories"] if m["kind"] == "bias"), None)
    if w is None:
        return []
    var = w["var"]
    impl = w["impl"]
    n_words, word = w["depth"], w["width"]
    note = (f"    // {layer['layer']}: weights {var} = {n_words} x {word} bits (RF {layer['reuse_factor']}) -> "
            f"{'registers' if impl == 'ff' else impl}")
    if b is not None:
        note += f"; biases {b['var']} -> registers"
    lines = [note]
    if impl == "ff":
        lines.append(f"    #pragma HLS ARRAY_RESHAPE variable={var} complete dim=1")
    else:
        lines.append(f"    #pragma HLS ARRAY_RESHAPE variable={var} block factor={block_factor(rec, layer['reuse_factor'])} dim=1")
        lines.append("    " + rom_binding(backend, var, impl))
    if b is not None:
        lines.append(f"    #pragma HLS ARRAY_PARTITION variable={b['var']} complete dim=1")
    return lines


def block_factor(rec: dict, rf: int) -> int:
    """Weights per ROM word: the Resource kernels' ``block_factor = ceil(n_weights / reuse_factor)``."""
    n = int(rec["weights"]["count"])
    rf = max(1, min(int(rf), n))
    return -(-n // rf)


def write(prj: Path, layers: list[dict], fifos: list[dict], nodes: list[dict], backend: str) -> list[str]:
    """Write the planned storage into the written project ``prj`` (see the module docstring).

    ``layers`` / ``fifos``: the plan in flow.json's form (``resources.layers`` / ``resources.fifos``);
    ``nodes``: the design (flow.json ``design``). Returns the pragma lines of the weight arrays the plan
    puts in URAM: they go into the top function of the weight-load path (hls/weight_load.py)."""
    by_name = {r["name"]: r for r in nodes}
    fw = Path(prj) / "firmware"
    top = fw / "myproject.cpp"
    cpp = top.read_text()
    if HEADER in cpp:
        raise RuntimeError(f"{top} already carries a storage plan")
    if cpp.count(ANCHOR) != 1:
        raise RuntimeError(f"{top}: '#pragma HLS DATAFLOW' not found once; hls4ml's writer changed")
    block, uram = [HEADER.rstrip("\n")], []
    for layer in layers:
        if layer["layer"] in by_name and "weights" in by_name[layer["layer"]]:
            lines = weight_block(layer, by_name[layer["layer"]], backend)
            in_uram = any(m["kind"] == "weights" and m["impl"] == "uram" for m in layer["memories"])
            (uram if in_uram else block).extend(lines)
    cpp = cpp.replace(ANCHOR, ANCHOR + "\n" + "\n".join(block) + "\n")
    for f in fifos:
        pragma = fifo_binding(backend, f["var"], f["impl"])
        if pragma is None:
            continue
        stream = re.compile(rf"(\n([ \t]*)#pragma HLS STREAM variable={re.escape(f['var'])} depth=\d+\n)")
        m = stream.search(cpp)
        if not m:
            raise RuntimeError(f"{top}: no '#pragma HLS STREAM variable={f['var']}' for planned FIFO {f['stream']}")
        cpp = cpp[:m.end()] + f"{m.group(2)}{pragma}\n" + cpp[m.end():]
    top.write_text(cpp)
    patch_kernels(fw)
    return uram


def patch_kernels(fw: Path) -> None:
    """Remove the template pragmas that would bind weight arrays against the plan (module docstring)."""
    p = Path(fw) / "nnet_utils" / "nnet_dense_resource.h"
    if not p.is_file():
        return
    s = p.read_text()
    s2, n = ROM_PRAGMA_RE.subn(ROM_PRAGMA_NOTE, s)
    if n == 0 and "core=ROM_nP_BRAM" in s:
        raise RuntimeError(f"{p}: hls4ml's ROM_nP_BRAM pragma is written differently than expected; not removed")
    p.write_text(s2)


@contextlib.contextmanager
def no_pointwise_rewrite():
    """Keep 1x1 Conv1D/Conv2D as they are during a conversion: hls4ml's ``optimize_pointwise_conv``
    (Vivado/Vitis) turns them into PointwiseConv, whose io_stream kernel partitions the weights
    completely. hls4ml 1.3.0's ``SkipOptimizers`` setting is not applied by its flows, so the pass's
    ``match`` is switched off for the duration (and restored)."""
    from hls4ml.model.optimizer import get_optimizer

    opt = get_optimizer("vivado:optimize_pointwise_conv")
    had = "match" in vars(opt)
    old = vars(opt).get("match")
    opt.match = lambda node: False
    try:
        yield
    finally:
        if had:
            opt.match = old
        else:
            del opt.match
