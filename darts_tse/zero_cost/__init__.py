"""Zero-cost proxies: scores of an untrained network from one minibatch at initialisation (SNIP, SynFlow, Jacobian
covariance), the baselines the TSE paper compares with (its Figures 1 and 2). Torch-bound, so a room of its own beside
the torch-free ``estimators``; they take any ``nn.Module`` and a batch (``ranking.baselines`` builds the cell's
stand-alone network for them)."""
from .proxies import PROXIES, jacob_cov, snip, synflow

__all__ = ["PROXIES", "jacob_cov", "snip", "synflow"]
