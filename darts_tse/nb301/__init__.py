"""NAS-Bench-301 for the DARTS space: YAHPO Gym's surrogate (``model_v2.onnx``) read with onnxruntime, batched.

``load_benchmark(path).query(genotype)`` / ``.query_many(genotypes)`` return :class:`NB301Result` s, each labelled
"NB301 surrogate (YAHPO v2), CIFAR-10 valid accuracy, epoch 98" (NB301's 8-cell, 100-epoch protocol; a fitted model,
not a look-up, and not DARTS' 600-epoch test error). Torch-free; onnxruntime is imported when a file is opened.
"""
from .surrogate import (
    DEFAULT_EPOCH,
    MODEL_SHA256,
    NB301_LABEL,
    NB301Error,
    NB301Result,
    NB301Surrogate,
    encode,
    load_benchmark,
    nb301_label,
)

__all__ = ["DEFAULT_EPOCH", "MODEL_SHA256", "NB301_LABEL", "NB301Error", "NB301Result", "NB301Surrogate", "encode",
           "load_benchmark", "nb301_label"]
