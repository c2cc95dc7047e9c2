"""hls4ml Extension-API layers of fpga_flow: one module per layer kind.

Each module keeps one custom layer's Keras class, hls4ml parser, hls4ml IR layer and templates
together with its layer-kind record ``KIND`` (hls/layer_kind.py: support check, exact type rule,
geometry, FIFO, resource and cycle models); its C++ is in cpp/. ``register()`` installs them all
into hls4ml (idempotent), for every backend of hls/backends.py; hls/kinds.py puts their records in
the registry. A new layer kind is a new module here and its name in the registration line below.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ..backends import BACKENDS
# the registration line: every extension module (one layer kind each)
from . import avgpool, channel_shuffle, gap, grouped_conv, maxpool, sliding_window, stream_conv  # noqa: F401

MODULES = tuple(sorted((m for m in dict(globals()).values() if isinstance(m, ModuleType) and hasattr(m, "KIND")),
                       key=lambda m: m.__name__))  # the modules imported on that line
CPP_DIR = Path(__file__).parent / "cpp"
_registered = False


def _keras_classes(m) -> tuple:
    return tuple(getattr(m, "KERAS_CLASSES", None) or (m.KERAS_CLASS,))


def _parsers(m) -> tuple:
    return tuple(getattr(m, "PARSERS", None) or (m.PARSER,))


def custom_objects() -> dict:
    """Keras custom objects of the extension layers, for load_model / clone."""
    return {c.__name__: c for m in MODULES for c in _keras_classes(m)}


def register() -> None:
    global _registered
    if _registered:
        return
    import hls4ml
    from hls4ml.converters.keras_v2_to_hls import layer_handlers
    from hls4ml.model.layers import layer_map

    for m in MODULES:
        for keras_name, parser in _parsers(m):
            if keras_name not in layer_handlers:
                hls4ml.converters.register_keras_v2_layer_handler(keras_name, parser)
        if getattr(m, "HLS_LAYER", None):  # grouped_conv only parses into stream_conv's HLS layer
            hls_name, hls_cls = m.HLS_LAYER
            if hls_name not in layer_map:
                hls4ml.model.layers.register_layer(hls_name, hls_cls)
    for backend_name in BACKENDS:
        backend = hls4ml.backends.get_backend(backend_name)
        for m in MODULES:
            for tmpl in getattr(m, "TEMPLATES", ()):
                backend.register_template(tmpl)
            if getattr(m, "SOURCE", None):
                backend.register_source(CPP_DIR / m.SOURCE)
    _registered = True
