"""Code shared by the HTTP service (`producer`) and the consumer group (`consumer`).

The article wire format, the settings both services read, and the sinks that hold the counts.
"""
