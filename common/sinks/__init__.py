"""Sinks hold the counts and each partition's offset; see :mod:`common.sinks.base` for the contract."""
