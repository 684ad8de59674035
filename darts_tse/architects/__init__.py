"""Architects own α and its optimizer: the validation-gradient (DARTS) and the training-speed (TSE) ones."""
from .base import Architect, build_arch_optimizer
from .tse import TSE_MODES, TSEArchitect
from .validation import HVP_METHODS, ValidationArchitect, exact_hvp, finite_difference_hvp, unrolled_validation_gradients

__all__ = ["Architect", "HVP_METHODS", "TSEArchitect", "TSE_MODES", "ValidationArchitect", "build_arch_optimizer",
           "exact_hvp", "finite_difference_hvp", "unrolled_validation_gradients"]
