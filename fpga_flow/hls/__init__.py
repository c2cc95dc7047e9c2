"""Conversion of QKeras models to hls4ml projects (io_stream, Resource), exact by construction."""
