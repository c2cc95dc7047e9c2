"""The weight-load path: weight memories the plan puts in UltraScale+ URAM, filled at start-up.

UltraScale+ URAM has no initial contents from the bitstream, so a weight array the plan stores in
URAM cannot be a ROM: it becomes a RAM (``bind_storage type=ram_1p impl=uram``) that a load port of
the top function fills once, before the first inference. When the plan puts at least one weight
array in URAM, ``write`` changes the written project so (nothing changes otherwise):

* ``firmware/myproject.cpp``: hls4ml's top function becomes ``static void myproject_dataflow(...)``
  (its body, the DATAFLOW region, unchanged but for the C-simulation loading of the URAM arrays from
  text files, which is removed); a new top function ``myproject`` has the same two AXI-stream ports
  plus ``weights_in`` (an AXI stream of 64-bit words) and ``load_weights`` (an AXI-lite register):

      if (load_weights) fpga_flow_load_weights(weights_in);   // start-up: fill the URAM arrays
      else myproject_dataflow(image, out);                    // inference

  and carries each URAM array's reshape and binding (the top function is where both the loader and
  the dataflow region reach the global arrays).
* ``firmware/weights/wN.h`` of a URAM array: declared without an initializer in the synthesis branch
  (nothing for the bitstream to hold); its ``wN.txt`` is deleted, so the C-simulation can only get
  these weights through the load port.
* ``firmware/weights/weights.bin``: what the host streams into ``weights_in``: for each URAM array,
  in the order of ``fpga_flow_load_weights``, its elements in index order as raw two's-complement
  codes of the array's fixed-point type, ``64 // bits`` per little-endian 64-bit word (element k of
  a word in bits [k*bits, (k+1)*bits)), each array starting on a new word.
* ``firmware/weight_loader.h`` (the word type, the per-array load loop, and for C-simulation the
  reader of weights.bin), ``firmware/myproject.h`` (the new prototype), ``myproject_bridge.cpp``
  (``myproject_load_weights(path)`` for the C-sim library; inference calls pass load_weights=false)
  and ``myproject_test.cpp`` (the test bench loads weights.bin first).

The C-simulation worker calls ``myproject_load_weights`` before the first image (fpga_flow/verify),
so ``fpga-flow verify`` checks the whole path: the codes in weights.bin, the load loop and the
reshaped arrays it fills. ``fpga-flow audit`` checks the bindings, the missing initializers, the
loader's order and the size of weights.bin (verify/audit.py). What a vendor tool does with it is not
checked here (no synthesis on this machine).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

WORD_BITS = 64
LOADER_H = "weight_loader.h"
BIN = "weights.bin"  # in firmware/weights/
NO_INIT = "// fpga_flow: in URAM, filled through the weight-load port (hls/weight_load.py); no bitstream contents"

_TOP_RE = re.compile(r"\nvoid myproject\(\n(.*?)\n\) \{\n", re.S)


def uram_arrays(layers: list[dict]) -> list[dict]:
    """The weight memories the plan puts in URAM: [{layer, var, words, width}] in plan order."""
    return [{"layer": row["layer"], "var": m["var"], "depth": m["depth"], "width": m["width"]}
            for row in layers for m in row["memories"] if m["kind"] == "weights" and m["impl"] == "uram"]


def fixed_types(defines_h: str) -> dict[str, tuple[bool, int, int]]:
    """{typedef name: (signed, width, integer bits)} of the scalar ap_fixed/ap_ufixed types in defines.h."""
    out = {}
    for u, w, i, name in re.findall(r"typedef ap_(u?)fixed<(\d+),\s*(-?\d+)[^>]*>\s+(\w+);", defines_h):
        out[name] = (u != "u", int(w), int(i))
    return out


def codes(values: np.ndarray, signed: bool, width: int, integer: int) -> np.ndarray:
    """The raw width-bit codes (unsigned view) of ``values`` on the type's grid; exact or an error."""
    c = np.asarray(values, np.float64) * 2.0 ** (width - integer)
    r = np.rint(c)
    if not np.array_equal(c, r):
        raise RuntimeError(f"weights are not on the grid of ap_{'' if signed else 'u'}fixed<{width},{integer}>")
    lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2 ** width - 1)
    if r.min(initial=0) < lo or r.max(initial=0) > hi:
        raise RuntimeError(f"weights outside ap_{'' if signed else 'u'}fixed<{width},{integer}>")
    return (r.astype(np.int64) & ((1 << width) - 1)).astype(np.uint64)


def pack(c: np.ndarray, width: int) -> np.ndarray:
    """Codes -> 64-bit words, ``64 // width`` per word, element k of a word at bit k*width."""
    per = WORD_BITS // width
    n_words = -(-len(c) // per)
    padded = np.zeros(n_words * per, np.uint64)
    padded[:len(c)] = c
    shifts = (np.arange(per, dtype=np.uint64) * np.uint64(width))
    return np.bitwise_or.reduce(padded.reshape(n_words, per) << shifts, axis=1).astype("<u8")


def write(prj: Path, layers: list[dict], top_pragmas: list[str], backend: str) -> dict | None:
    """Build the load path for the plan's URAM weight arrays (module docstring); the manifest entry
    describing weights.bin, or None when no weight array is in URAM. ``top_pragmas``: the reshape and
    binding lines of those arrays (hls/storage.py), placed in the new top function."""
    arrays = uram_arrays(layers)
    if not arrays:
        return None
    if backend != "Vitis":
        raise RuntimeError(f"weights in URAM need the Vitis backend (planned for {backend})")
    prj = Path(prj)
    fw = prj / "firmware"
    types = fixed_types((fw / "defines.h").read_text())
    entries, words, offset = [], [], 0
    for a in arrays:
        var = a["var"]
        h = fw / "weights" / f"{var}.h"
        text = h.read_text()
        decl = re.search(rf"^(\w+) {var}\[(\d+)\];$", text, re.M)
        init = re.search(rf"^(\w+) {var}\[(\d+)\] = \{{.*?\}};$", text, re.M | re.S)
        if not decl or not init:
            raise RuntimeError(f"{h}: hls4ml's weight header layout changed (declaration of {var} not found)")
        tname, n = decl.group(1), int(decl.group(2))
        if tname not in types:
            raise RuntimeError(f"{var}: type {tname} not found in defines.h")
        signed, width, integer = types[tname]
        txt = fw / "weights" / f"{var}.txt"
        values = np.array([float(v) for v in txt.read_text().replace("\n", " ").split(",") if v.strip()])
        if len(values) != n:
            raise RuntimeError(f"{txt}: {len(values)} values, {var} has {n}")
        w = pack(codes(values, signed, width, integer), width)
        words.append(w)
        entries.append({"layer": a["layer"], "var": var, "type": tname, "elements": n, "bits": width,
                        "per_word": WORD_BITS // width, "offset_words": offset, "words": int(len(w))})
        offset += len(w)
        h.write_text(text[:init.start()] + f"{tname} {var}[{n}]; {NO_INIT}" + text[init.end():])
        txt.unlink()
    np.concatenate(words).tofile(fw / "weights" / BIN)
    _loader_header(fw / LOADER_H, entries, offset)
    _top(fw / "myproject.cpp", entries, top_pragmas)
    _prototype(fw / "myproject.h")
    _callers(prj / "myproject_bridge.cpp", bridge=True)
    _callers(prj / "myproject_test.cpp", bridge=False)
    return {"file": f"firmware/weights/{BIN}", "word_bits": WORD_BITS, "words": int(offset),
            "bytes": int(offset * WORD_BITS // 8), "arrays": entries,
            "port": "weights_in (AXI stream of 64-bit words) with load_weights=1 (AXI-lite), once before inference"}


def _loader_header(path: Path, entries: list[dict], total: int) -> None:
    table = "\n".join(f"//   {e['var']:8s} {e['layer']:28s} {e['elements']:9d} x {e['bits']:2d} bits, {e['per_word']} per word, "
                      f"words {e['offset_words']}..{e['offset_words'] + e['words'] - 1}" for e in entries)
    path.write_text(f"""// fpga_flow weight-load path (fpga_flow/hls/weight_load.py): the word type, the load loop of one
// weight array, and (C-simulation only) the reader of weights.bin. The arrays loaded, in this order:
{table}
// {total} words of {WORD_BITS} bits in all (weights/{BIN}); element k of a word in bits [k*bits, (k+1)*bits).
#ifndef FPGA_FLOW_WEIGHT_LOADER_H_
#define FPGA_FLOW_WEIGHT_LOADER_H_

#include "ap_int.h"
#include "hls_stream.h"
#ifndef __SYNTHESIS__
#include <cstdio>
#endif

#define FPGA_FLOW_WEIGHT_WORDS {total}
typedef ap_uint<{WORD_BITS}> weight_word_t;

namespace nnet {{

// Fill w[0..N-1] from the stream: 64/BITS codes per word, lowest bits first. One element per
// iteration (the arrays are reshaped into wide words, so each write is a read-modify-write of one
// word; the load runs once, at start-up).
template <class T, unsigned N, unsigned BITS>
void fpga_flow_load_array(hls::stream<weight_word_t> &in, T w[N]) {{
    static const unsigned PER = {WORD_BITS} / BITS;
    weight_word_t word = 0;
    unsigned slot = 0;
LoadArray:
    for (unsigned i = 0; i < N; i++) {{
        #pragma HLS PIPELINE
        if (slot == 0)
            word = in.read();
        ap_uint<BITS> code = word.range(BITS - 1, 0);
        w[i].range(BITS - 1, 0) = code;
        if (PER > 1)
            word = word >> BITS;
        slot = (slot + 1 == PER) ? 0 : slot + 1;
    }}
}}

#ifndef __SYNTHESIS__
// weights.bin -> the stream (little-endian 64-bit words); returns the number of words, -1 if unreadable.
inline long fpga_flow_read_weights(const char *path, hls::stream<weight_word_t> &out) {{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char b[8];
    long n = 0;
    while (fread(b, 1, 8, f) == 8) {{
        weight_word_t w = 0;
        for (int k = 7; k >= 0; k--) {{
            w <<= 8;
            w |= b[k];
        }}
        out.write(w);
        n++;
    }}
    fclose(f);
    return n;
}}
#endif

}} // namespace nnet

#endif
""")


def _top(path: Path, entries: list[dict], top_pragmas: list[str]) -> None:
    cpp = path.read_text()
    m = _TOP_RE.search(cpp)
    if not m or cpp.count("\nvoid myproject(\n") != 1:
        raise RuntimeError(f"{path}: hls4ml's top function layout changed ('void myproject(' not found once)")
    ports = [p.strip().rstrip(",") for p in m.group(1).splitlines() if p.strip()]
    names = [re.search(r"&\s*(\w+)$", p).group(1) for p in ports]
    body_start = m.end()
    iface = re.compile(r"[ \t]*#pragma HLS INTERFACE axis port=[\w,]+[ \t]*\n")
    body = cpp[body_start:]
    if not iface.search(body):
        raise RuntimeError(f"{path}: no '#pragma HLS INTERFACE axis' in the top function")
    body = iface.sub("", body, count=1)
    for e in entries:  # the C-simulation gets these arrays through the load port only
        body, n = re.subn(rf"[ \t]*nnet::load_weights_from_txt<\w+, \d+>\({e['var']}, \"{e['var']}\.txt\"\);\n", "", body)
        if n != 1:
            raise RuntimeError(f"{path}: C-simulation loading of {e['var']} not found once")
    new = (cpp[:m.start()] + "\n// hls4ml's network: the DATAFLOW region (fpga_flow/hls/weight_load.py renamed it; the top is below)\n"
           + "static void myproject_dataflow(\n" + m.group(1) + "\n) {\n" + body)
    loads = "\n".join(f"    nnet::fpga_flow_load_array<{e['type']}, {e['elements']}, {e['bits']}>(weights_in, {e['var']});"
                      for e in entries)
    args = ", ".join(names)
    pragmas = "\n".join(top_pragmas)
    new += f"""
// fpga_flow weight-load path (fpga_flow/hls/weight_load.py): the weight arrays in URAM, in weights.bin order
static void fpga_flow_load_weights(hls::stream<weight_word_t> &weights_in) {{
{loads}
}}

// Top function: load_weights=1 once after configuration streams weights.bin into weights_in (the URAM
// weight arrays have no bitstream contents); load_weights=0 runs the network.
void myproject(
    {(',' + chr(10) + '    ').join(ports)},
    hls::stream<weight_word_t> &weights_in,
    bool load_weights
) {{
    #pragma HLS INTERFACE axis port={','.join(names)},weights_in
    #pragma HLS INTERFACE s_axilite port=load_weights
{pragmas}

    if (load_weights) {{
        fpga_flow_load_weights(weights_in);
    }} else {{
        myproject_dataflow({args});
    }}
}}
"""
    path.write_text(new)


def _prototype(path: Path) -> None:
    h = path.read_text()
    m = re.search(r"void myproject\(\n(.*?)\n\);", h, re.S)
    if not m:
        raise RuntimeError(f"{path}: prototype of myproject not found")
    ports = m.group(1).rstrip()
    new = (f'void myproject(\n{ports},\n    hls::stream<weight_word_t> &weights_in,\n    bool load_weights\n);')
    h = h.replace(m.group(0), new).replace('#include "defines.h"\n', f'#include "defines.h"\n#include "{LOADER_H}"\n', 1)
    path.write_text(h)


_CALL_RE = re.compile(r"^([ \t]*)myproject\((\w+),\s*(\w+)\);", re.M)


def _callers(path: Path, *, bridge: bool) -> None:
    """Inference calls pass an empty weight stream and load_weights=false; the bridge gets
    ``myproject_load_weights(path)``, the test bench loads weights.bin before its first call."""
    src = path.read_text()
    src, n = _CALL_RE.subn(lambda m: (f"{m.group(1)}hls::stream<weight_word_t> no_weights(\"weights_in\");\n"
                                      f"{m.group(1)}myproject({m.group(2)}, {m.group(3)}, no_weights, false);"), src)
    if n == 0:
        raise RuntimeError(f"{path}: no call of myproject(in, out) found")
    if bridge:
        fn = """
// fpga_flow weight-load path: stream weights.bin into the top function with load_weights=true, as the
// host does on the board. 0 on success; -1 unreadable file, -2 wrong size, -3 words left over.
int myproject_load_weights(const char *path) {
    hls::stream<weight_word_t> words("weights_in");
    long n = nnet::fpga_flow_read_weights(path, words);
    if (n < 0)
        return -1;
    if (n != FPGA_FLOW_WEIGHT_WORDS)
        return -2;
    hls::stream<input_t> no_input("no_input");
    hls::stream<result_t> no_output("no_output");
    myproject(no_input, no_output, words, true);
    return words.empty() ? 0 : -3;
}
"""
        if 'extern "C" {\n' not in src:
            raise RuntimeError(f"{path}: no extern \"C\" block")
        src = src.replace('extern "C" {\n', 'extern "C" {\n' + fn, 1)
    else:
        load = """
    // fpga_flow weight-load path: the URAM weight arrays are filled from weights.bin first
    {
        hls::stream<weight_word_t> words("weights_in");
        if (nnet::fpga_flow_read_weights((std::string(WEIGHTS_DIR) + "/weights.bin").c_str(), words) != FPGA_FLOW_WEIGHT_WORDS) {
            std::cerr << "ERROR: cannot read " << WEIGHTS_DIR << "/weights.bin" << std::endl;
            return 1;
        }
        hls::stream<input_t> no_input("no_input");
        hls::stream<result_t> no_output("no_output");
        myproject(no_input, no_output, words, true);
    }
"""
        anchor = "int main(int argc, char **argv) {\n"
        if anchor not in src:
            raise RuntimeError(f"{path}: main() not found")
        src = src.replace(anchor, anchor + load, 1)
    path.write_text(src)
