"""Model zoo: parameter counts from the paper, shapes, knobs, float twin."""
import numpy as np
import pytest

from fpga_flow.config import SqueezeNetOptions
from fpga_flow.errors import FlowError
from fpga_flow.models.squeezenet import fire_channels, squeezenet


def n_trainable(m):
    return sum(int(np.prod(w.shape)) for w in m.trainable_weights)


@pytest.mark.parametrize("version,expected", [("1.0", 1_248_424), ("1.1", 1_235_496)])
@pytest.mark.parametrize("quantized", [False, True])
def test_paper_parameter_counts(version, expected, quantized):
    m = squeezenet(version, input_shape=(224, 224, 3), classes=1000, quantized=quantized)
    assert n_trainable(m) == expected


def test_table1_shapes_v11_224():
    m = squeezenet("1.1", quantized=False)
    shape = {l.name: l.output_shape[1:] for l in m.layers}
    assert shape["conv1"] == (111, 111, 64)
    assert shape["pool1"] == (55, 55, 64)
    assert shape["fire3_concat"] == (55, 55, 128)
    assert shape["pool3"] == (27, 27, 128)
    assert shape["pool5"] == (13, 13, 256)
    assert shape["conv10"] == (13, 13, 1000)
    assert shape["pool10"] == (1000,)


def test_table1_shapes_v10_227():
    # Table 1's 111/55/27/13 for v1.0 correspond to the 227x227 crop of the released model
    m = squeezenet("1.0", input_shape=(227, 227, 3), quantized=False)
    shape = {l.name: l.output_shape[1:] for l in m.layers}
    assert shape["conv1"] == (111, 111, 96)
    assert shape["pool1"] == (55, 55, 96)
    assert shape["pool4"] == (27, 27, 256)
    assert shape["pool8"] == (13, 13, 512)
    assert shape["fire9_concat"] == (13, 13, 512)


def test_pool_positions():
    for version, pools in (("1.0", {"pool1", "pool4", "pool8"}), ("1.1", {"pool1", "pool3", "pool5"})):
        m = squeezenet(version, quantized=True)
        got = {l.name for l in m.layers if "MaxPooling" in type(l).__name__}
        assert got == pools


def test_fire_channels_paper_defaults():
    table1 = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
              (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
    assert [fire_channels(i, SqueezeNetOptions(name="squeezenet1_1")) for i in range(8)] == table1


def test_microarchitecture_knobs_change_model():
    m = squeezenet("1.1", base_e=64, incr_e=32, freq=4, sr=0.25, pct3x3=0.75, quantized=False,
                   input_shape=(64, 64, 3), classes=10)
    # fire2: e=64 -> s=16, e3=48, e1=16; fire6 (i=4): e=64+32=96 -> s=24, e3=72, e1=24
    assert m.get_layer("fire2_squeeze1x1").filters == 16
    assert m.get_layer("fire2_expand3x3").filters == 48
    assert m.get_layer("fire2_expand1x1").filters == 16
    assert m.get_layer("fire6_squeeze1x1").filters == 24
    assert m.get_layer("fire6_expand3x3").filters == 72


def test_bypass_variants():
    base = squeezenet("1.0", quantized=False)
    simple = squeezenet("1.0", bypass="simple", quantized=False)
    cplx = squeezenet("1.0", bypass="complex", quantized=False)
    adds = lambda m: sorted(l.name for l in m.layers if type(l).__name__ == "Add")
    assert adds(simple) == [f"fire{i}_bypass_add" for i in (3, 5, 7, 9)]
    assert adds(cplx) == sorted(f"fire{i}_bypass_add" for i in range(2, 10))
    assert n_trainable(simple) == n_trainable(base)  # identity shortcuts add no parameters
    # complex: 1x1 convs with bias around fire2/4/6/8 (96->128, 128->256, 256->384, 384->512)
    extra = (96 * 128 + 128) + (128 * 256 + 256) + (256 * 384 + 384) + (384 * 512 + 512)
    assert n_trainable(cplx) == n_trainable(base) + extra


def test_float_twin_same_names():
    q = squeezenet("1.1", input_shape=(32, 32, 3), classes=10)
    f = squeezenet("1.1", input_shape=(32, 32, 3), classes=10, quantized=False)
    qn = {l.name for l in q.layers if l.weights}
    fn = {l.name for l in f.layers if l.weights}
    assert qn == fn


@pytest.mark.parametrize("kw,msg", [
    (dict(version="2.0"), "unknown SqueezeNet version"),
    (dict(bypass="fancy"), "model.bypass='fancy' is invalid"),
    (dict(input_shape=(16, 16, 3)), "too small"),
    (dict(classes=1), "model.classes=1"),
    (dict(bypas="simple"), "unknown key 'model.bypas'; nearest valid key: 'model.bypass'"),
])
def test_bad_arguments(kw, msg):
    version = kw.pop("version", "1.1")
    with pytest.raises(FlowError, match=msg):
        squeezenet(version, **kw)


def test_quant_bits_out_of_range():
    from fpga_flow.config import Quantization

    with pytest.raises(FlowError, match="weight_bits"):
        Quantization(weight_bits=40)
    with pytest.raises(FlowError, match="act_int"):
        Quantization(act_bits=4, act_int=4)
