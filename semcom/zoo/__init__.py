"""Checkpoint store: verified checkpoint files and the manifest of shipped checkpoints.

* :mod:`semcom.zoo.store` — the file format (SHA-256 protected, loaded with
  ``torch.load(weights_only=True)``), the manifest, and :func:`checkpoint_for`, which resolves a
  ``checkpoint`` argument (shipped, a file, or none) to a verified file.
* :mod:`semcom.zoo.build` — :func:`build_codec` and :func:`build_receiver`: learned codecs and
  receiver back-ends built with the weights of that checkpoint.
* :mod:`semcom.zoo.publish` — fp16 conversion of a training checkpoint into ``checkpoints/``
  and its manifest entry.
"""

from semcom.zoo.store import (  # noqa: F401
    Checkpoint,
    checkpoint_for,
    find_entry,
    load_checkpoint,
    read_manifest,
    save_checkpoint,
)
from semcom.zoo.build import build_codec, build_receiver, is_learned, receiver_is_learned  # noqa: F401,E402
