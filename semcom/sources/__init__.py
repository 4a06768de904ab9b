"""Source nodes: hybrid camera models and the datasets built from them (registry ``SOURCES``)."""

from semcom.sources import skimage_set  # noqa: F401
from semcom.sources import datasets  # noqa: F401  (synth-blur, folder, gopro)
from semcom.sources import photos  # noqa: F401  (the training corpus)
from semcom.sources.base import EVENT_DTYPE, Batch, Sample, SourceDataset, collate, iterate_batches  # noqa: F401
