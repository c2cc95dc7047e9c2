"""One-line faults in a written hls4ml project, one per kind of storage-audit finding. Each takes the
project directory (hls4ml_prj) and the design records (flow.json's ``design``), edits the written C++
in place, and returns (layer the audit must name, text its finding must contain)."""
from __future__ import annotations

import re
from pathlib import Path


def _top(prj: Path) -> Path:
    return Path(prj) / "firmware" / "myproject.cpp"


def _sub_once(path: Path, pattern: str, repl, what: str) -> re.Match:
    text = path.read_text()
    m = re.search(pattern, text, re.M)
    assert m, f"{what}: no match for {pattern!r} in {path.name}"
    new = repl(m) if callable(repl) else repl
    path.write_text(text[:m.start()] + new + text[m.end():])
    return m


def _weights_of(prj: Path, layer: str) -> tuple[str, str]:
    m = re.search(rf"^\s*// {re.escape(layer)}: weights (w\d+) .*biases (b\d+)", _top(prj).read_text(), re.M)
    assert m, f"no storage comment of {layer}"
    return m.group(1), m.group(2)


def _stream_var(nodes, stream: str) -> str:
    return next(o["var"] for r in nodes for o in r["outputs"] if o["name"] == stream)


def rom_impl(prj, nodes, layer="fire2_squeeze1x1"):
    """The weight ROM bound to another primitive than planned (lutram <-> bram)."""
    w, _ = _weights_of(prj, layer)
    m = _sub_once(_top(prj), rf"(#pragma HLS bind_storage variable={w} type=rom_1p impl=)(\w+)",
                  lambda m: m.group(1) + ("bram" if m.group(2) != "bram" else "lutram"), "rom_impl")
    return layer, f"{w} bound as rom impl={'bram' if m.group(2) != 'bram' else 'lutram'}"


def reshape_factor(prj, nodes, layer="fire4_expand3x3"):
    """The weight array reshaped into words of another size than the plan's (factor halved)."""
    w, _ = _weights_of(prj, layer)
    m = _sub_once(_top(prj), rf"(#pragma HLS ARRAY_RESHAPE variable={w} block factor=)(\d+)",
                  lambda m: m.group(1) + str(int(m.group(2)) // 2), "reshape_factor")
    return layer, f"{w} reshaped into words of {int(m.group(2)) // 2} weights"


def bias_partition(prj, nodes, layer="fire3_squeeze1x1"):
    """The bias array's complete partition (registers) removed."""
    _, b = _weights_of(prj, layer)
    _sub_once(_top(prj), rf"^\s*#pragma HLS ARRAY_PARTITION variable={b} complete dim=1\n", "", "bias_partition")
    return layer, f"bias array {b} is not partitioned into registers"


def fifo_impl(prj, nodes, stream="fire2_squeeze1x1"):
    """A FIFO bound to another primitive than planned (srl -> lutram)."""
    var = _stream_var(nodes, stream)
    _sub_once(_top(prj), rf"(#pragma HLS bind_storage variable={var} type=fifo impl=)srl\b",
              lambda m: m.group(1) + "lutram", "fifo_impl")
    return stream, f"FIFO {var} planned in srl, written binding: #pragma HLS bind_storage variable={var} type=fifo impl=lutram"


def fifo_depth(prj, nodes, stream="fire2_relu_expand1x1"):
    """A join FIFO one item shallower than planned (the deadlock-free minimum minus one)."""
    var = _stream_var(nodes, stream)
    m = _sub_once(_top(prj), rf"(#pragma HLS STREAM variable={var} depth=)(\d+)",
                  lambda m: m.group(1) + str(int(m.group(2)) - 1), "fifo_depth")
    d = int(m.group(2))
    return stream, f"FIFO {var} depth {d - 1} (myproject.cpp:"


def kernel_partition(prj, nodes, layer="fire4_expand3x3"):
    """A kernel that partitions the weights it receives (as stock pointwise_conv_2d_cl does): the
    matrix-vector unit's reshape pragma turned into a complete partition. Every layer whose call
    reaches that kernel is named; ``layer`` (a weight ROM) is one of them."""
    h = Path(prj) / "firmware" / "nnet_utils" / "nnet_stream_mvu.h"
    _sub_once(h, r"#pragma HLS ARRAY_RESHAPE\s+variable=weights block factor=BF",
              "#pragma HLS ARRAY_PARTITION variable=weights complete", "kernel_partition")
    return layer, "partitions the weights (nnet_utils/nnet_stream_mvu.h:"


FAULTS = {"rom_impl": rom_impl, "reshape_factor": reshape_factor, "bias_partition": bias_partition,
          "fifo_impl": fifo_impl, "fifo_depth": fifo_depth, "kernel_partition": kernel_partition}
