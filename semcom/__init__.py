"""semcom: link-level simulation of semantic communication with neuromorphic cameras."""

__version__ = "0.1.0"

from semcom import channels, codecs, metrics, receivers, sources  # noqa: E402,F401  (fill the registries)
from semcom.registry import CHANNELS, CODECS, METRICS, RECEIVERS, SOURCES  # noqa: E402,F401
