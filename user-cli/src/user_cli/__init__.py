"""user-cli: create users, log in, look users up and check tokens.

`main` parses the command line, `commands` calls user-service through the
registry, `output` prints the replies for people or, with `--json`, for scripts.
"""

__version__ = "0.1.0"
