"""hls4ml templates of an extension layer, made from its two C++ template strings.

Each extension needs a config template (the ``struct configN`` in parameters.h) and a function call
template (the call in myproject.cpp). Both are hls4ml's own classes, formatted with hls4ml's default
parameters (the node's attributes, types, input/output names) plus the few the layer computes.
"""
from __future__ import annotations

from typing import Callable

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate


def templates(layer_cls, config_template: str, function_template: str, header: str, *,
              config_params: Callable | None = None, function_params: Callable | None = None) -> tuple[type, type]:
    """(config template class, function call template class) of ``layer_cls``; ``header``: its C++
    file in nnet_utils/; ``config_params(node)`` / ``function_params(node)``: extra format parameters."""

    class Config(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = config_template

        def format(self, node):
            params = self._default_config_params(node)
            params.update(config_params(node) if config_params else {})
            return self.template.format(**params)

    class Function(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=[f"nnet_utils/{header}"])
            self.template = function_template

        def format(self, node):
            params = self._default_function_params(node)
            params.update(function_params(node) if function_params else {})
            return self.template.format(**params)

    Config.__name__ = Config.__qualname__ = f"{layer_cls.__name__}ConfigTemplate"
    Function.__name__ = Function.__qualname__ = f"{layer_cls.__name__}FunctionTemplate"
    return Config, Function
