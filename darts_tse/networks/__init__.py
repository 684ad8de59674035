"""Stand-alone evaluation networks of a found cell, trained from scratch: NB201's cell network (``nb201.py``) and
DARTS' ``NetworkCIFAR`` (``darts.py``); their weight and multiply-add counts (``counting.py``).

Every network offers ``forward(x) -> logits`` and ``forward_train(x) -> (logits, auxiliary logits or None)`` (the
auxiliary head runs only in training mode), and a ``drop_path_prob`` attribute that the trainer sets per epoch.
"""
from .counting import count_weights, multiply_adds
from .darts import AuxiliaryHead, DartsCell, NetworkCIFAR, drop_path
from .nb201 import NB201Cell, NB201Network

__all__ = ["AuxiliaryHead", "DartsCell", "NB201Cell", "NB201Network", "NetworkCIFAR", "count_weights", "drop_path",
           "multiply_adds"]
