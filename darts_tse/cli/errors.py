"""The errors a user can cause with bad input: the CLIs print their one-line message instead of a traceback."""
from ..config import ConfigError
from ..data import DataError
from ..files import RunLockedError
from ..nb201 import BenchmarkError
from ..search import CheckpointError, NonFiniteLossError
from ..space import GenotypeError

USER_ERRORS = (BenchmarkError, CheckpointError, ConfigError, DataError, GenotypeError, NonFiniteLossError,
               RunLockedError)
