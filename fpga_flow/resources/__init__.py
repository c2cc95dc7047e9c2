"""Parts database and (later) the on-chip memory / DSP / latency model."""
