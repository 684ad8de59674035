"""The weight step that every architect (and every one-shot sampler) shares, exact snapshots of training state, and
the weight step of a stand-alone network trained from scratch (``standalone.py``)."""
from .snapshot import TrainingSnapshot, buffers_kept
from .standalone import NetworkTrainer
from .step import StepStats, WeightTrainer, alpha_gradients, classification_loss, weights_frozen

__all__ = ["NetworkTrainer", "StepStats", "TrainingSnapshot", "WeightTrainer", "alpha_gradients", "buffers_kept",
           "classification_loss", "weights_frozen"]
