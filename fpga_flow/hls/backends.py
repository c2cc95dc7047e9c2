"""The hls4ml backends the flow writes projects for, and what each lets the fitter bind to URAM.

One copy of each fact: the config's ``hls.backend`` choices (config.py), the backends the extension
templates are registered with (extensions/__init__.py) and the URAM roles the fitter may use
(resources/fit.py, through ``config.HlsSection.uram_roles``) all read them here. Light: no hls4ml
or TensorFlow import.
"""
from __future__ import annotations

BACKENDS = ("Vitis", "Vivado")

# the memory kinds the fitter may move to URAM on each backend: FIFOs, and weights through the
# weight-load path (hls/weight_load.py: UltraScale+ URAM has no bitstream contents) unless
# hls.uram_weights is off; Vivado HLS: none (no URAM FIFO core to bind, no load path written); line
# buffers are never bound to URAM (hls/storage.py)
URAM_ROLES = {"Vitis": ("fifo", "weights"), "Vivado": ()}
