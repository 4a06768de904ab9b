"""Training of the learned links: trainer, losses and multi-stage schedules.

``train(TrainConfig(link=..., cbr=..., snr_range=(0, 20), steps=..., out=...))`` (or the same fields as
keywords: ``train("deepjscc", cbr=...)``) is the library entry point; ``semcom train``
(:mod:`semcom.cli.train`, its options generated from :class:`TrainConfig`) and ``python -m semcom.train``
wrap it.
"""

from semcom._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **{n: "semcom.train.losses" for n in ("LOSSES", "StepOutput", "compute_loss", "register_loss")},
    **{n: "semcom.train.schedules" for n in ("SCHEDULES", "Schedule", "Stage", "get_schedule")},
    **{n: "semcom.train.data" for n in ("TrainingData", "draw_batch")},
    "TrainConfig": "semcom.train.config",
    **{n: "semcom.train.trainer" for n in ("TrainResult", "forward_step", "load_training_data", "set_trainable",
                                            "train")},
})
