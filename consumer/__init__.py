"""The consumer group: worker processes that count named entities per publication, exactly.

``python -m consumer`` starts the supervisor (:mod:`consumer.supervisor`); each worker
(:mod:`consumer.worker`) flushes counts through :class:`consumer.checkpoint.Checkpointer`.
"""
