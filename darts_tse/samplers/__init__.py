"""One-shot path samplers: they own only how the subnetworks (paths) a supernet trains on are drawn, as the architects
own only α. ``build_sampler(name, trainer, seed=..., paths=...)`` makes one of :data:`SAMPLERS`; ``list_samplers()``
names them; ``@register_sampler("name")`` adds your own."""
from .base import PathSampler, build_sampler, list_samplers, random_cells, random_path, register_sampler
from .builtin import FairSampler, MultiPathSampler, RandomSampler

__all__ = ["FairSampler", "MultiPathSampler", "PathSampler", "RandomSampler", "build_sampler", "list_samplers",
           "random_cells", "random_path", "register_sampler"]
