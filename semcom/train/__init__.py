"""Training of the learned links: trainer, losses and multi-stage schedules.

``train(link_name, cbr=..., snr_range=(0, 20), steps=..., out=...)`` is the library entry point;
``semcom train`` (:mod:`semcom.train.command`) and ``python -m semcom.train`` wrap it.
"""

from semcom.train.losses import LOSSES, StepOutput, compute_loss, register_loss  # noqa: F401
from semcom.train.schedules import SCHEDULES, Schedule, Stage, get_schedule  # noqa: F401
from semcom.train.data import TrainingData, draw_batch  # noqa: F401
from semcom.train.trainer import TrainResult, forward_step, load_training_data, set_trainable, train  # noqa: F401
