"""Datasets read from local files only (no network): Fashion-MNIST (IDX files or the shipped sample)."""
