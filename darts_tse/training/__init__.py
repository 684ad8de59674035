"""The weight step that every architect (and every one-shot sampler) shares, and exact snapshots of training state."""
from .snapshot import TrainingSnapshot, buffers_kept
from .step import StepStats, WeightTrainer, alpha_gradients, classification_loss, weights_frozen

__all__ = ["StepStats", "TrainingSnapshot", "WeightTrainer", "alpha_gradients", "buffers_kept", "classification_loss",
           "weights_frozen"]
