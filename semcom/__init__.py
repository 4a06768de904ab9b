"""semcom: link-level simulation of semantic communication with neuromorphic cameras.

``import semcom`` is light (no torch); the component packages and the registries load on first use.
"""

from semcom._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    **{m: f"semcom.{m}" for m in ("channels", "codecs", "metrics", "receivers", "sources", "train", "bench", "zoo")},
    **{r: "semcom.registry" for r in ("CHANNELS", "CODECS", "METRICS", "RECEIVERS", "SOURCES")},
})
