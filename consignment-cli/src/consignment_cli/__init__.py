"""consignment-cli: create and list consignments with a user's token.

`main` parses the command line, `request` reads a consignment from a JSON file,
`commands` calls consignment-service through the registry, `output` prints the
replies for people or, with `--json`, for scripts.
"""

__version__ = "0.1.0"
