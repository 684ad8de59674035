"""Architects own α and its optimizer: the validation-gradient (DARTS) and the training-speed (TSE) ones."""
from .base import Architect, build_arch_optimizer
from .tse import TSE_MODES, TSEArchitect
from .validation import ValidationArchitect, finite_difference_hvp

__all__ = ["Architect", "TSEArchitect", "TSE_MODES", "ValidationArchitect", "build_arch_optimizer", "finite_difference_hvp"]
