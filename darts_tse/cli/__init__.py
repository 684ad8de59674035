"""The command lines: each module parses flags, builds the library's objects, calls the library, and prints one line
for a user's error (``errors.USER_ERRORS``). The rooms below know nothing of this one. ``scripts/*.py`` and
``train_search.py`` are thin wrappers of these modules; installed, each is also a console command (pyproject.toml)."""
