"""darts_tse: DARTS-style differentiable NAS on NAS-Bench-201, with training-speed estimation (TSE)."""

__version__ = "0.1.0"
