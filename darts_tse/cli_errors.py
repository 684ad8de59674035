"""The errors a user can cause with bad input: the CLIs print their one-line message instead of a traceback."""
from .benchmark import BenchmarkError
from .checkpoint import CheckpointError, RunLockedError
from .config import ConfigError
from .data import DataError
from .search import NonFiniteLossError
from .space import GenotypeError

USER_ERRORS = (BenchmarkError, CheckpointError, ConfigError, DataError, GenotypeError, NonFiniteLossError,
               RunLockedError)
