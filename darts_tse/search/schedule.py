"""Changing a run's length on resume (``--resume --epochs N``), and the note for a TSE window longer than an epoch.

The weights' learning rate follows a cosine from ``lr`` to ``lr_min`` over the planned epochs. A resume with another
``--epochs`` re-plans it from where the run stands: from the learning rate of the next epoch, a new cosine down to
``lr_min`` over the remaining epochs (the finished epochs keep the schedule they had). The re-planned schedule is in
the checkpoint (the scheduler's state), so a later plain ``--resume`` continues it exactly; config.json's
``segments`` say where and how it was re-planned.
"""
from __future__ import annotations

import torch

from ..config import ConfigError, RunConfig, SearchConfig
from .components import SearchComponents


def check_new_length(config: RunConfig, saved: RunConfig, finished: int) -> None:
    """ConfigError when ``--epochs`` asks for fewer epochs than the run has finished (`finished`); any other length
    (longer, or shorter than planned but not than done) is a re-plan."""
    if config.epochs != saved.epochs and config.epochs < finished:
        raise ConfigError(f"--resume --epochs {config.epochs}: the run has already finished {finished} epochs "
                          f"(0..{finished - 1}); give --epochs {finished + 1} or more to extend it, or leave --epochs "
                          f"out to keep its {saved.epochs}")


def replan_schedule(parts: SearchComponents, config: RunConfig, planned: int, start_epoch: int) -> dict | None:
    """Where ``config.epochs`` differs from the `planned` epochs of the restored schedule: a cosine from the current
    learning rate at `start_epoch` to ``lr_min`` at ``config.epochs`` (set as ``parts.scheduler``); returns what
    config.json records about it, or None when nothing changed (the restored schedule goes on exactly)."""
    if config.epochs == planned or start_epoch >= config.epochs:
        return None
    optimizer = parts.weight_optimizer
    if optimizer.param_groups[0]["lr"] <= 0:
        raise ConfigError(f"--resume --epochs {config.epochs}: the run's learning rate has reached 0 (its cosine "
                          f"ended at lr_min 0), so the extra epochs would not train; to train longer, start a new "
                          f"run with --epochs {config.epochs} (its cosine is planned over all of them)")
    for group in optimizer.param_groups:
        group["initial_lr"] = group["lr"]  # the new cosine starts from where the old one stands
    parts.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs - start_epoch,
                                                                 eta_min=config.lr_min)
    lr = optimizer.param_groups[0]["lr"]
    return {"epochs": {"from": planned, "to": config.epochs},
            "lr_schedule": f"cosine re-planned at epoch {start_epoch}: from lr {lr:.6g} to lr_min {config.lr_min:g} "
                           f"at epoch {config.epochs} (0-based end)"}


def window_note(config: RunConfig, minibatches: int) -> str | None:
    """A one-line note when a TSE method's K exceeds the training minibatches of an epoch (`minibatches`, after
    --steps-per-epoch): α then steps once per epoch, on a window of that epoch's minibatches, not on K."""
    if not isinstance(config, SearchConfig) or config.method_spec.architect != "tse" or config.K <= minibatches:
        return None
    return (f"note: --K {config.K} exceeds the {minibatches} training minibatches of an epoch: α takes one step per "
            f"epoch, on the sum over those {minibatches} (not {config.K}); a smaller --K gives more α steps")
