"""Registered experiments: the measurements behind the docs' numbers, each with a full-scale and a tiny
configuration, run by ``semcom experiment NAME [--tiny]`` and written through one results writer.

Adding one: a module here with a frozen config dataclass (its defaults are the full-scale run), a ``TINY``
instance, and ``@experiment(NAME, config=..., tiny=TINY, out="results/FOLDER")`` on its ``run(cfg, results)``;
then its module name in :data:`~semcom.experiments.base.EXPERIMENTS` and a tiny test in
``tests/test_experiments.py``.
"""

from semcom.experiments.base import EXPERIMENTS, Experiment, Results, experiment, run_experiment, with_overrides

__all__ = ["EXPERIMENTS", "Experiment", "Results", "experiment", "run_experiment", "with_overrides"]
