"""Step 'verify': C-simulation vs QKeras, integer code by integer code."""
