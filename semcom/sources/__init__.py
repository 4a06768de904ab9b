"""Source nodes: hybrid camera models and the datasets built from them (registry ``SOURCES``).

The datasets register themselves when :data:`semcom.registry.SOURCES` is first read
(``skimage_set``, ``datasets``: synth-blur, folder, gopro; ``photos``: the training corpus and
photos-image, its held-out photographs for the image task; ``video``: synth-blur-video).
"""

from semcom._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **{n: "semcom.sources.base" for n in ("EVENT_DTYPE", "Batch", "Sample", "SourceDataset", "collate",
                                           "iterate_batches")},
    **{m: f"semcom.sources.{m}" for m in ("skimage_set", "datasets", "gopro", "photos", "video")},
})
