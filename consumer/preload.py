"""What the supervisor's fork server loads once, before it forks the NER processes and the workers.

Every process of the group is forked from that one server, so the pages of the spaCy pipeline and of the
large libraries (librdkafka, gRPC, pydantic) exist once in memory, shared copy-on-write; ``gc.freeze()``
keeps the garbage collector from touching (and so copying) them in every child. The supervisor itself
never imports spaCy: the fork server imports :mod:`consumer.fork_server_preload`, which calls
:func:`load_everything`.
"""

import gc
import logging
import signal
from typing import TYPE_CHECKING

from common.settings import SinkKind
from consumer.logs import configure_logging, event
from consumer.settings import ConsumerSettings

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)

_pipelines: dict[str, "Language"] = {}


def load_everything() -> None:
    """Load the NER pipeline and import what every worker uses, then freeze the heap for the children.

    The fork server ignores SIGTERM (it already ignores SIGINT): a stop signal sent to the whole process group
    must reach the children, not end the server that reports their exit codes to the supervisor; it exits
    by itself when the supervisor is gone."""
    from consumer.nlp import load_ner

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = ConsumerSettings()
    configure_logging(settings.log_level, process="fork-server")
    try:
        _pipelines[settings.ner_model] = load_ner(settings.ner_model)
    except Exception as error:  # the NER processes load it again and report the error where it is seen
        log.warning(event("preload_failed", model=settings.ner_model, error=str(error)))
    import confluent_kafka  # noqa: F401

    import consumer.ner_server
    import consumer.worker  # noqa: F401

    if settings.sink is SinkKind.FIRESTORE:
        import common.sinks.firestore  # noqa: F401
    gc.collect()
    gc.freeze()


def pipeline(model: str) -> "Language":
    """The pipeline ``model``: the one loaded before the fork when there is one, else loaded now."""
    from consumer.nlp import load_ner

    loaded = _pipelines.get(model)
    return loaded if loaded is not None else load_ner(model)
