"""fpga_flow: QKeras SqueezeNet / ShuffleNet -> hls4ml io_stream HLS C++ with bit-exact C-simulation.

The package import is light on purpose (no TensorFlow): the C-simulation worker and the CLI's
error paths import it without paying TensorFlow's start-up time.
"""

__version__ = "0.1.0"
