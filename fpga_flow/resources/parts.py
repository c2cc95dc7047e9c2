"""FPGA devices, part numbers and boards: the resources a design may use.

One row per *device* (silicon): block RAM (as BRAM18K: each 36 Kb block counts as two), UltraRAM
blocks, DSP slices, CLB LUTs and CLB flip-flops, from the vendor's data sheets (the ``datasheet``
column names the one each family's numbers come from):

    DS190  Zynq-7000 SoC Data Sheet: Overview                (xc7z...)
    DS180  7 Series FPGAs Data Sheet: Overview              (xc7a..., xc7k..., xc7v...)
    DS890  UltraScale Architecture and Product Data Sheet: Overview (xcku..., xcvu..., UltraScale+)
    DS891  Zynq UltraScale+ MPSoC Data Sheet: Overview      (xczu..cg/eg/ev)
    DS889  Zynq UltraScale+ RFSoC Data Sheet: Overview      (xczu..dr)
    DS987  Kria K26 SOM Data Sheet                          (xck26)
    DS962 / DS963 / DS965 / DS978  Alveo U200+U250 / U280 / U50 / U55C data sheets (xcu...)
    DS950  Versal AI Core Series Data Sheet: Overview       (xcvc1902; DS957 Versal Prime: xcvm1802)

The numbers were written down from those data sheets without a network here (no copy of them is on
this machine); every device that a real C-synthesis report in ``shared/calibration`` targets is
cross-checked against that report's "Available" row (the ``checked`` column names the report; the test
``tests/test_parts.py`` re-reads every report and compares). Unchecked rows are data-sheet numbers as
recalled: treat them as such.

A *part number* is a device plus package, speed grade and temperature grade
(``xczu7ev-ffvc1156-2-e``, ``xczu7ev-fbvb900-1-i``, ``xc7a35tcpg236-1``, ``xc7a35ticsg324-1L``, the
report spelling ``xc7a35t-cpg236-1``): the resources depend only on the device, so any well-formed part
number of a known device resolves, keeping the user's spelling as the name the vendor tool gets.
Boards resolve by name (ZCU104, KV260, Ultra96-V2, PYNQ-Z2, Arty A7-35, U55C, ...). The device's
``family`` is the vendor tool's product family (the csynth report's "Product family" line); the HLS
memory rules depend on it (``hls_count.Profile``).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import FlowError

HLS4ML_DEFAULT_PART = "xcvu13p-flga2577-2-e"  # hls4ml 1.3.0 Vivado/Vitis backends' default Part


@dataclass(frozen=True)
class Part:
    name: str  # the part number the vendor tool gets
    board: str
    bram18k: int
    uram: int
    dsp: int
    lut: int
    ff: int
    device: str = ""  # xczu7ev
    family: str = ""  # vendor product family (csynth "Product family"): zynquplus, virtexuplus, artix7, ...
    datasheet: str = ""
    checked: str = ""  # calibration report whose "Available" row equals these numbers ("" = data sheet only)

    def to_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class Device:
    device: str
    family: str
    bram18k: int
    uram: int
    dsp: int
    lut: int
    ff: int
    datasheet: str
    default_part: str
    checked: str = ""
    note: str = ""


def _d(device, family, bram36, uram, dsp, lut, ff, ds, default, checked="", note=""):
    return Device(device, family, 2 * bram36, uram, dsp, lut, ff, ds, default, checked, note)


_ZU = "DS891"
_RF = "DS889"
_U = "DS890"
# device, family, 36 Kb block RAMs, URAM, DSP, LUT, FF, data sheet, default part number, checked against
_DEVICES = (
    # Zynq-7000 (DS190)
    _d("xc7z007s", "zynq", 50, 0, 66, 14_400, 28_800, "DS190", "xc7z007sclg400-1"),
    _d("xc7z012s", "zynq", 72, 0, 120, 34_400, 68_800, "DS190", "xc7z012sclg485-1"),
    _d("xc7z014s", "zynq", 107, 0, 170, 40_600, 81_200, "DS190", "xc7z014sclg400-1"),
    _d("xc7z010", "zynq", 60, 0, 80, 17_600, 35_200, "DS190", "xc7z010clg400-1"),
    _d("xc7z015", "zynq", 95, 0, 160, 46_200, 92_400, "DS190", "xc7z015clg485-1"),
    _d("xc7z020", "zynq", 140, 0, 220, 53_200, 106_400, "DS190", "xc7z020clg400-1"),
    _d("xc7z030", "zynq", 265, 0, 400, 78_600, 157_200, "DS190", "xc7z030fbg484-1"),
    _d("xc7z035", "zynq", 500, 0, 900, 171_900, 343_800, "DS190", "xc7z035ffg676-2"),
    _d("xc7z045", "zynq", 545, 0, 900, 218_600, 437_200, "DS190", "xc7z045ffg900-2"),
    _d("xc7z100", "zynq", 755, 0, 2_020, 277_400, 554_800, "DS190", "xc7z100ffg900-2"),
    # Artix-7 (DS180)
    _d("xc7a12t", "artix7", 20, 0, 40, 8_000, 16_000, "DS180", "xc7a12tcsg325-1"),
    _d("xc7a15t", "artix7", 25, 0, 45, 10_400, 20_800, "DS180", "xc7a15tcpg236-1"),
    _d("xc7a25t", "artix7", 45, 0, 80, 14_600, 29_200, "DS180", "xc7a25tcsg325-1"),
    _d("xc7a35t", "artix7", 50, 0, 90, 20_800, 41_600, "DS180", "xc7a35tcpg236-1",
       "tsopeter_best_model_hls4ml110_vitis2024.2"),
    _d("xc7a50t", "artix7", 75, 0, 120, 32_600, 65_200, "DS180", "xc7a50tcsg324-1"),
    _d("xc7a75t", "artix7", 105, 0, 180, 47_200, 94_400, "DS180", "xc7a75tcsg324-1"),
    _d("xc7a100t", "artix7", 135, 0, 240, 63_400, 126_800, "DS180", "xc7a100tcsg324-1"),
    _d("xc7a200t", "artix7", 365, 0, 740, 134_600, 269_200, "DS180", "xc7a200tsbg484-1"),
    # Kintex-7 (DS180)
    _d("xc7k70t", "kintex7", 135, 0, 240, 41_000, 82_000, "DS180", "xc7k70tfbg484-1"),
    _d("xc7k160t", "kintex7", 325, 0, 600, 101_400, 202_800, "DS180", "xc7k160tfbg484-1"),
    _d("xc7k325t", "kintex7", 445, 0, 840, 203_800, 407_600, "DS180", "xc7k325tffg900-2"),
    _d("xc7k355t", "kintex7", 715, 0, 1_440, 222_600, 445_200, "DS180", "xc7k355tffg901-2"),
    _d("xc7k410t", "kintex7", 795, 0, 1_540, 254_200, 508_400, "DS180", "xc7k410tffg900-2"),
    _d("xc7k420t", "kintex7", 835, 0, 1_680, 260_600, 521_200, "DS180", "xc7k420tffg901-2"),
    _d("xc7k480t", "kintex7", 955, 0, 1_920, 298_600, 597_200, "DS180", "xc7k480tffg901-2"),
    # Virtex-7 (DS180)
    _d("xc7v585t", "virtex7", 795, 0, 1_260, 364_200, 728_400, "DS180", "xc7v585tffg1761-2"),
    _d("xc7v2000t", "virtex7", 1_292, 0, 2_160, 1_221_600, 2_443_200, "DS180", "xc7v2000tflg1925-2"),
    _d("xc7vx330t", "virtex7", 750, 0, 1_120, 204_000, 408_000, "DS180", "xc7vx330tffg1157-2"),
    _d("xc7vx415t", "virtex7", 880, 0, 2_160, 257_600, 515_200, "DS180", "xc7vx415tffg1157-2"),
    _d("xc7vx485t", "virtex7", 1_030, 0, 2_800, 303_600, 607_200, "DS180", "xc7vx485tffg1761-2"),
    _d("xc7vx550t", "virtex7", 1_180, 0, 2_880, 346_400, 692_800, "DS180", "xc7vx550tffg1158-2"),
    _d("xc7vx690t", "virtex7", 1_470, 0, 3_600, 433_200, 866_400, "DS180", "xc7vx690tffg1761-2"),
    _d("xc7vx980t", "virtex7", 1_500, 0, 3_600, 612_000, 1_224_000, "DS180", "xc7vx980tffg1926-2"),
    _d("xc7vx1140t", "virtex7", 1_880, 0, 3_360, 712_000, 1_424_000, "DS180", "xc7vx1140tflg1930-2"),
    # Kintex UltraScale (DS890)
    _d("xcku025", "kintexu", 360, 0, 1_152, 145_440, 290_880, _U, "xcku025-ffva1156-1-c"),
    _d("xcku035", "kintexu", 540, 0, 1_700, 203_128, 406_256, _U, "xcku035-fbva676-1-c"),
    _d("xcku040", "kintexu", 600, 0, 1_920, 242_400, 484_800, _U, "xcku040-ffva1156-2-e"),
    _d("xcku060", "kintexu", 1_080, 0, 2_760, 331_680, 663_360, _U, "xcku060-ffva1156-2-e"),
    _d("xcku085", "kintexu", 1_620, 0, 4_100, 497_520, 995_040, _U, "xcku085-flvb1760-2-e"),
    _d("xcku095", "kintexu", 1_680, 0, 768, 537_600, 1_075_200, _U, "xcku095-ffvb2104-2-e"),
    _d("xcku115", "kintexu", 2_160, 0, 5_520, 663_360, 1_326_720, _U, "xcku115-flvb2104-2-e"),
    # Virtex UltraScale (DS890)
    _d("xcvu065", "virtexu", 1_260, 0, 600, 358_080, 716_160, _U, "xcvu065-ffvc1517-2-e"),
    _d("xcvu080", "virtexu", 1_421, 0, 672, 487_200, 974_400, _U, "xcvu080-ffva2104-2-e"),
    _d("xcvu095", "virtexu", 1_728, 0, 768, 537_600, 1_075_200, _U, "xcvu095-ffva2104-2-e"),
    _d("xcvu125", "virtexu", 2_520, 0, 1_200, 716_160, 1_432_320, _U, "xcvu125-flva2104-2-e"),
    _d("xcvu160", "virtexu", 3_276, 0, 1_560, 1_034_400, 2_068_800, _U, "xcvu160-flgb2104-2-e"),
    _d("xcvu190", "virtexu", 3_780, 0, 1_800, 1_074_240, 2_148_480, _U, "xcvu190-flga2577-2-e"),
    _d("xcvu440", "virtexu", 2_520, 0, 2_880, 2_532_960, 5_065_920, _U, "xcvu440-flga2892-2-e"),
    # Kintex UltraScale+ (DS890)
    _d("xcku3p", "kintexuplus", 360, 48, 1_368, 162_720, 325_440, _U, "xcku3p-ffva676-2-e"),
    _d("xcku5p", "kintexuplus", 480, 64, 1_824, 216_960, 433_920, _U, "xcku5p-ffvb676-2-e"),
    _d("xcku9p", "kintexuplus", 912, 0, 2_520, 274_080, 548_160, _U, "xcku9p-ffve900-2-e"),
    _d("xcku11p", "kintexuplus", 600, 80, 2_928, 298_560, 597_120, _U, "xcku11p-ffva1156-2-e"),
    _d("xcku13p", "kintexuplus", 744, 112, 3_528, 376_320, 752_640, _U, "xcku13p-ffve900-2-e"),
    _d("xcku15p", "kintexuplus", 984, 128, 1_968, 522_720, 1_045_440, _U, "xcku15p-ffva1156-2-e"),
    # Virtex UltraScale+ (DS890); VU35P/37P/45P/47P with HBM
    _d("xcvu3p", "virtexuplus", 720, 320, 2_280, 394_080, 788_160, _U, "xcvu3p-ffvc1517-2-e"),
    _d("xcvu5p", "virtexuplus", 1_024, 470, 3_474, 600_577, 1_201_154, _U, "xcvu5p-flva2104-2-e"),
    _d("xcvu7p", "virtexuplus", 1_440, 640, 4_560, 788_160, 1_576_320, _U, "xcvu7p-flva2104-2-e"),
    _d("xcvu9p", "virtexuplus", 2_160, 960, 6_840, 1_182_240, 2_364_480, _U, "xcvu9p-flga2104-2L-e"),
    _d("xcvu11p", "virtexuplus", 2_016, 960, 9_216, 1_296_000, 2_592_000, _U, "xcvu11p-flga2577-1-e",
       "dune_apa_cnn_jmitrevs_hls4ml071_vitis2023.1"),
    _d("xcvu13p", "virtexuplus", 2_688, 1_280, 12_288, 1_728_000, 3_456_000, _U, "xcvu13p-flga2577-2-e",
       "pixel_cnn_large_alezander9_hls4ml080_vitis2023.1", "hls4ml's default part"),
    _d("xcvu19p", "virtexuplus", 2_160, 320, 3_840, 4_085_760, 8_171_520, _U, "xcvu19p-fsva3824-2-e"),
    _d("xcvu35p", "virtexuplus", 1_344, 640, 5_952, 871_680, 1_743_360, _U, "xcvu35p-fsvh2892-2-e"),
    _d("xcvu37p", "virtexuplus", 2_016, 960, 9_024, 1_303_680, 2_607_360, _U, "xcvu37p-fsvh2892-2L-e"),
    _d("xcvu45p", "virtexuplus", 1_344, 640, 5_952, 871_680, 1_743_360, _U, "xcvu45p-fsvh2892-2-e"),
    _d("xcvu47p", "virtexuplus", 2_016, 960, 9_024, 1_303_680, 2_607_360, _U, "xcvu47p-fsvh2892-2-e"),
    # Zynq UltraScale+ MPSoC (DS891): CG/EG/EV of one size share the programmable logic
    _d("xczu1cg", "zynquplus", 108, 0, 216, 37_440, 74_880, _ZU, "xczu1cg-sbva484-1-e"),
    _d("xczu1eg", "zynquplus", 108, 0, 216, 37_440, 74_880, _ZU, "xczu1eg-sbva484-1-e"),
    _d("xczu2cg", "zynquplus", 150, 0, 240, 47_232, 94_464, _ZU, "xczu2cg-sbva484-1-e"),
    _d("xczu2eg", "zynquplus", 150, 0, 240, 47_232, 94_464, _ZU, "xczu2eg-sbva484-1-e"),
    _d("xczu3cg", "zynquplus", 216, 0, 360, 70_560, 141_120, _ZU, "xczu3cg-sbva484-1-e"),
    _d("xczu3eg", "zynquplus", 216, 0, 360, 70_560, 141_120, _ZU, "xczu3eg-sbva484-1-e"),
    _d("xczu4cg", "zynquplus", 128, 48, 728, 87_840, 175_680, _ZU, "xczu4cg-sfvc784-1-e"),
    _d("xczu4eg", "zynquplus", 128, 48, 728, 87_840, 175_680, _ZU, "xczu4eg-sfvc784-1-e"),
    _d("xczu4ev", "zynquplus", 128, 48, 728, 87_840, 175_680, _ZU, "xczu4ev-sfvc784-1-e"),
    _d("xczu5cg", "zynquplus", 144, 64, 1_248, 117_120, 234_240, _ZU, "xczu5cg-sfvc784-1-e"),
    _d("xczu5eg", "zynquplus", 144, 64, 1_248, 117_120, 234_240, _ZU, "xczu5eg-sfvc784-1-e"),
    _d("xczu5ev", "zynquplus", 144, 64, 1_248, 117_120, 234_240, _ZU, "xczu5ev-sfvc784-1-e"),
    _d("xczu6cg", "zynquplus", 714, 0, 1_973, 214_604, 429_208, _ZU, "xczu6cg-ffvb1156-1-e"),
    _d("xczu6eg", "zynquplus", 714, 0, 1_973, 214_604, 429_208, _ZU, "xczu6eg-ffvb1156-2-e"),
    _d("xczu7cg", "zynquplus", 312, 96, 1_728, 230_400, 460_800, _ZU, "xczu7cg-ffvc1156-1-e"),
    _d("xczu7eg", "zynquplus", 312, 96, 1_728, 230_400, 460_800, _ZU, "xczu7eg-ffvc1156-2-e"),
    _d("xczu7ev", "zynquplus", 312, 96, 1_728, 230_400, 460_800, _ZU, "xczu7ev-ffvc1156-2-e",
       "alexnet_cifar10_cestmerneil_hls4ml071_vitis2022.1"),
    _d("xczu9cg", "zynquplus", 912, 0, 2_520, 274_080, 548_160, _ZU, "xczu9cg-ffvb1156-1-e"),
    _d("xczu9eg", "zynquplus", 912, 0, 2_520, 274_080, 548_160, _ZU, "xczu9eg-ffvb1156-2-e",
       "lenet5_guessoum_hls4ml110_vitis2023.2"),
    _d("xczu11eg", "zynquplus", 600, 80, 2_928, 298_560, 597_120, _ZU, "xczu11eg-ffvc1156-2-e"),
    _d("xczu15eg", "zynquplus", 744, 112, 3_528, 341_280, 682_560, _ZU, "xczu15eg-ffvb1156-2-e"),
    _d("xczu17eg", "zynquplus", 796, 102, 1_590, 425_280, 850_560, _ZU, "xczu17eg-ffvc1760-2-e"),
    _d("xczu19eg", "zynquplus", 984, 128, 1_968, 522_720, 1_045_440, _ZU, "xczu19eg-ffvc1760-2-e"),
    # Zynq UltraScale+ RFSoC (DS889): the 930K-logic-cell devices
    _d("xczu21dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu21dr-ffvd1156-2-e"),
    _d("xczu27dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu27dr-ffve1156-2-e"),
    _d("xczu28dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu28dr-ffvg1517-2-e"),
    _d("xczu29dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu29dr-ffvf1760-2-e"),
    _d("xczu39dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu39dr-ffvf1760-2-e"),
    _d("xczu43dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu43dr-ffvg1517-2-e"),
    _d("xczu46dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu46dr-ffvh1760-2-e"),
    _d("xczu47dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu47dr-ffve1156-2-e"),
    _d("xczu48dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu48dr-ffvg1517-2-e"),
    _d("xczu49dr", "zynquplusRFSOC", 1_080, 80, 4_272, 425_280, 850_560, _RF, "xczu49dr-ffvf1760-2-e"),
    # Kria K26 SOM (DS987): a ZU5EV-class device; the csynth report says family zynquplus
    _d("xck26", "zynquplus", 144, 64, 1_248, 117_120, 234_240, "DS987", "xck26-sfvc784-2LV-c",
       "kv260_mnist_cnn_baseline_lolbraa_vitis2025.2"),
    # Alveo accelerator cards (U200 = VU9P, U250 = VU13P, U50 = VU35P, U280 = VU37P, U55C = VU47P silicon);
    # the csynth report of the U55C says family virtexuplus
    _d("xcu50", "virtexuplus", 1_344, 640, 5_952, 871_680, 1_743_360, "DS965", "xcu50-fsvh2104-2-e"),
    _d("xcu55c", "virtexuplus", 2_016, 960, 9_024, 1_303_680, 2_607_360, "DS978", "xcu55c-fsvh2892-2L-e",
       "alveo_u55c_svhn_cnn_alexyang_vitis2022.2"),
    _d("xcu200", "virtexuplus", 2_160, 960, 6_840, 1_182_240, 2_364_480, "DS962", "xcu200-fsgd2104-2-e"),
    _d("xcu250", "virtexuplus", 2_688, 1_280, 12_288, 1_728_000, 3_456_000, "DS962", "xcu250-figd2104-2L-e",
       "ece226_har_conv1d_hls4ml120_vitis2024.1"),
    _d("xcu280", "virtexuplus", 2_016, 960, 9_024, 1_303_680, 2_607_360, "DS963", "xcu280-fsvh2892-2L-e"),
    # Versal (DS950 AI Core, DS957 Prime): hls4ml 1.3.0 ships no Versal board file; its Vitis backend
    # takes the part number like any other (DSP58 slices)
    _d("xcvc1902", "versal", 967, 463, 1_968, 899_840, 1_799_680, "DS950", "xcvc1902-vsva2197-2MP-e-S",
       note="hls4ml 1.3.0: no Versal board support; Vitis backend takes the part number"),
    _d("xcvm1802", "versal", 967, 463, 1_968, 899_840, 1_799_680, "DS957", "xcvm1802-vsva2197-2MP-e-S",
       note="hls4ml 1.3.0: no Versal board support; Vitis backend takes the part number"),
)
DEVICES: dict[str, Device] = {d.device: d for d in _DEVICES}

# board name (as printed) -> part number; hls4ml's VivadoAccelerator board keys (pynq-z2, zcu102,
# alveo-u50, alveo-u200, alveo-u250, alveo-u280) resolve through the same normalisation
_BOARDS = (
    ("PYNQ-Z1", "xc7z020clg400-1"), ("PYNQ-Z2", "xc7z020clg400-1"), ("ZedBoard", "xc7z020clg484-1"),
    ("ZC702", "xc7z020clg484-1"), ("ZC706", "xc7z045ffg900-2"), ("Zybo Z7-10", "xc7z010clg400-1"),
    ("Zybo Z7-20", "xc7z020clg400-1"), ("Arty Z7-20", "xc7z020clg400-1"), ("Cora Z7-07S", "xc7z007sclg400-1"),
    ("Arty A7-35", "xc7a35ticsg324-1L"), ("Arty A7-100", "xc7a100tcsg324-1"), ("Basys 3", "xc7a35tcpg236-1"),
    ("Cmod A7-35", "xc7a35tcpg236-1"), ("Nexys A7-100T", "xc7a100tcsg324-1"), ("Nexys Video", "xc7a200tsbg484-1"),
    ("KC705", "xc7k325tffg900-2"), ("VC707", "xc7vx485tffg1761-2"), ("VC709", "xc7vx690tffg1761-2"),
    ("KCU105", "xcku040-ffva1156-2-e"), ("KCU116", "xcku5p-ffvb676-2-e"), ("VCU108", "xcvu095-ffva2104-2-e"),
    ("VCU118", "xcvu9p-flga2104-2L-e"), ("VCU128", "xcvu37p-fsvh2892-2L-e"),
    ("Ultra96", "xczu3eg-sbva484-1-e"), ("Ultra96-V2", "xczu3eg-sbva484-1-e"), ("AUP-ZU3", "xczu3eg-sfvc784-2-e"),
    ("ZCU102", "xczu9eg-ffvb1156-2-e"), ("ZCU104", "xczu7ev-ffvc1156-2-e"), ("ZCU106", "xczu7ev-ffvc1156-2-e"),
    ("ZCU111", "xczu28dr-ffvg1517-2-e"), ("ZCU208", "xczu48dr-fsvg1517-2-e"), ("ZCU216", "xczu49dr-ffvf1760-2-e"),
    ("RFSoC 4x2", "xczu48dr-ffvg1517-2-e"), ("KV260", "xck26-sfvc784-2LV-c"), ("KR260", "xck26-sfvc784-2LV-c"),
    ("Alveo U50", "xcu50-fsvh2104-2-e"), ("Alveo U55C", "xcu55c-fsvh2892-2L-e"),
    ("Alveo U200", "xcu200-fsgd2104-2-e"), ("Alveo U250", "xcu250-figd2104-2L-e"),
    ("Alveo U280", "xcu280-fsvh2892-2L-e"), ("VCK190", "xcvc1902-vsva2197-2MP-e-S"),
    ("VMK180", "xcvm1802-vsva2197-2MP-e-S"),
)


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def _board_keys(name: str) -> set[str]:
    k = _norm(name)
    return {k, k[len("alveo"):]} if k.startswith("alveo") else {k}


BOARDS: dict[str, str] = {}  # normalised board name -> part number
BOARD_NAMES: dict[str, str] = {}  # normalised -> printed name
for _name, _part in _BOARDS:
    for _k in _board_keys(_name):
        BOARDS[_k], BOARD_NAMES[_k] = _part, _name

# a part number after the device name: [-]package[-]speed[-temperature][-S|-ESn]; the package is
# letters + pin count (ffvc1156, clg400, icsg324: 7-series parts put an industrial 'i' before it)
_TAIL = re.compile(r"^-?[a-z]{2,5}\d{3,4}-\d[a-z]{0,2}(-[ceiqm])?(-(s|es\d))?$")


def _device_of(low: str) -> Device | None:
    """The device of a full part number (longest device name that prefixes it with a valid tail)."""
    for dev in sorted(DEVICES, key=len, reverse=True):
        if low.startswith(dev) and _TAIL.match(low[len(dev):]):
            return DEVICES[dev]
    return None


def _boards_of(part_low: str) -> list[str]:
    return sorted({BOARD_NAMES[k] for k, p in BOARDS.items() if p.lower() == part_low})


def _part(name: str, dev: Device, board: str | None = None) -> Part:
    boards = _boards_of(name.lower())
    board = board or (" / ".join(boards) if boards else "no board")
    return Part(name, board, dev.bram18k, dev.uram, dev.dsp, dev.lut, dev.ff, dev.device, dev.family,
                dev.datasheet, dev.checked)


# the parts a refusal suggests instead (fit.refusal): one per popular evaluation board
PARTS: dict[str, Part] = {}
for _n, _b in (("xc7z020clg400-1", "PYNQ-Z2"), ("xczu3eg-sbva484-1-e", "Ultra96-V2"),
               ("xczu7ev-ffvc1156-2-e", "ZCU104"), ("xczu9eg-ffvb1156-2-e", "ZCU102"),
               ("xcu250-figd2104-2L-e", "Alveo U250"), ("xcvu9p-flga2104-2L-e", "VCU118")):
    PARTS[_n] = _part(_n, _device_of(_n.lower()), _b)
# documented short forms: the device name alone (xczu7ev) means its default part number
SHORT = {d.device: d.default_part for d in _DEVICES}


def known_names() -> list[str]:
    """Every name resolve() accepts by itself: devices, their default part numbers, boards."""
    return sorted(set(DEVICES) | {d.default_part for d in _DEVICES} | {n for n, _ in _BOARDS})


def nearest(name: str, n: int = 3) -> list[str]:
    low = str(name).strip().lower()
    cands = {c.lower(): c for c in known_names()}
    # a part number of a device we know but with a malformed tail: suggest that device first
    pref = [c for c in cands if len(c) >= 5 and low.startswith(c) and c in DEVICES]
    close = difflib.get_close_matches(low, list(cands), n=n + len(pref), cutoff=0.0)
    out = []
    for c in sorted(pref, key=len, reverse=True) + close:
        if cands[c] not in out:
            out.append(cands[c])
    return out[:n]


def resolve(name_or_board) -> Part:
    """A Part from a part number of a known device (any package, speed or temperature grade), a
    device name (xczu7ev: its default part number), a board name (ZCU104, KV260, Alveo U55C), a
    mapping describing a custom part (name, bram18k, uram, dsp, lut, ff; optional board), or the path
    of a YAML file holding such a mapping. Case-insensitive; anything else is an error naming the three
    nearest known names."""
    if isinstance(name_or_board, dict):
        return custom(name_or_board)
    if not isinstance(name_or_board, str):
        raise FlowError(f"hls.part={name_or_board!r} is invalid; use a part number, a board name or a mapping "
                        "{name, bram18k, uram, dsp, lut, ff} for a custom part")
    key = name_or_board.strip()
    low = key.lower()
    for d in _DEVICES:
        if low == d.default_part.lower():
            return _part(d.default_part, d)
    if low in DEVICES:
        d = DEVICES[low]
        return _part(d.default_part, d)
    nb = _norm(key)
    if nb and nb in BOARDS and not low.startswith("xc"):
        part = BOARDS[nb]
        return _part(part, _device_of(part.lower()), BOARD_NAMES[nb])
    dev = _device_of(low)
    if dev is not None:
        return _part(key, dev)
    if key.endswith((".yml", ".yaml")) and Path(key).is_file():
        import yaml

        try:
            d = yaml.safe_load(Path(key).read_text())
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
            raise FlowError(f"custom part file {key} is not readable YAML ({type(e).__name__}); fix it") from None
        return custom(d)
    near = ", ".join(nearest(key))
    raise FlowError(f"unknown part or board {key!r} (nearest: {near}); 'fpga-flow parts' lists the {len(DEVICES)} "
                    "known devices and their boards, or give a custom part mapping/YAML file "
                    "(name, bram18k, uram, dsp, lut, ff)")


def label(part) -> str:
    """The name to print for hls.part (a part number, or a custom part's name)."""
    return str(part.get("name", "custom")) if isinstance(part, dict) else str(part)


def custom(d: dict) -> Part:
    """A custom part: ``name`` is the part number the vendor tool knows (it goes into the project);
    bram18k, uram, dsp, lut, ff are the device's totals (non-negative integers)."""
    need = ("name", "bram18k", "uram", "dsp", "lut", "ff")
    if not isinstance(d, dict):
        raise FlowError(f"custom part must be a mapping with keys {list(need)}")
    missing = [k for k in need if k not in d]
    unknown = sorted(set(d) - set(need) - {"board", "device", "family", "datasheet", "checked"})
    if missing or unknown:
        raise FlowError(f"custom part: {'missing keys ' + str(missing) if missing else 'unknown keys ' + str(unknown)}; "
                        f"give exactly {list(need)} (and optionally board)")
    name = d["name"]
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip()):
        raise FlowError(f"custom part: name={name!r} must be the part number as the vendor tool knows it, "
                        "e.g. xcku115-flvb2104-2-e")
    vals = []
    for k in need[1:]:
        v = d[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise FlowError(f"custom part: {k}={v!r} must be a non-negative integer (the device's total)")
        vals.append(v)
    if vals[0] + vals[1] == 0:
        raise FlowError("custom part: bram18k and uram are both 0; the flow stores weights on chip, give the "
                        "device's block RAM count")
    # optional (what Part.to_dict writes into flow.json, read back): the device and its product family,
    # which selects the HLS memory rules; taken from the database when the name is a known device's part
    dev = _device_of(name.strip().lower())
    family = str(d.get("family") or (dev.family if dev else ""))
    return Part(name.strip(), str(d.get("board", "custom")), *vals, device=str(d.get("device") or (dev.device if dev else "")),
                family=family, datasheet=str(d.get("datasheet", "")), checked=str(d.get("checked", "")))


def listing(filter_: str | None = None) -> list[dict]:
    """Rows of ``fpga-flow parts``: every device (with its boards) whose name, family, default part or
    board matches ``filter_`` (case-insensitive substring; a full part number selects its device)."""
    rows = []
    want = (filter_ or "").strip().lower()
    dev_of = _device_of(want) if want else None
    for d in _DEVICES:
        boards = sorted({BOARD_NAMES[k] for k, p in BOARDS.items() if _device_of(p.lower()) is d})
        hay = " ".join([d.device, d.family, d.default_part, d.datasheet] + boards).lower()
        if want and not (want in hay or _norm(want) in _norm(hay) or dev_of is d):
            continue
        rows.append({"device": d.device, "family": d.family, "bram18k": d.bram18k, "uram": d.uram, "dsp": d.dsp,
                     "lut": d.lut, "ff": d.ff, "default_part": d.default_part, "boards": boards,
                     "datasheet": d.datasheet, "checked_against": d.checked or None, "note": d.note or None})
    return rows
