"""``python -m darts_tse <command> [flags]``: the same as the installed ``darts-tse`` command."""
import sys

from darts_tse.cli.main import module_main

if __name__ == "__main__":
    sys.exit(module_main())
