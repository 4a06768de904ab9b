"""Seeds of per-step random draws: independent streams keyed by (seed, step, stream, shard)."""

from __future__ import annotations

import numpy as np

__all__ = ["step_seed"]


def step_seed(seed: int, step: int, stream: int, shard: int = 0) -> int:
    """A 63-bit seed for the draws of ``stream`` at ``step`` of shard ``shard`` (independent streams).

    Shard 0 keys ``(seed, step, stream)``, so a single-shard run draws as before shards existed.
    """
    key = [int(seed), int(step), int(stream)] + ([int(shard)] if shard else [])
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0] & 0x7FFF_FFFF_FFFF_FFFF)
