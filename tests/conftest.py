import os

import pytest
import torch

# keep the suite deterministic and light on a 2-core machine
torch.set_num_threads(1)
os.environ.setdefault("SEMCOM_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "semcom-tests"))


@pytest.fixture
def small_batch():
    """Four 64x64 crops of scikit-image pictures (blurry == sharp)."""
    from semcom.registry import SOURCES
    from semcom.sources.base import collate

    ds = SOURCES.build("skimage", size=64, limit=4, seed=1)
    return collate([ds[i] for i in range(len(ds))])
