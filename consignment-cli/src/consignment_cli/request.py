"""A consignment to create, read from a JSON file before anything is sent.

The file holds a `CreateConsignmentRequest` in protobuf's JSON mapping;
field names may be camelCase or snake_case:

    {
      "description": "Bananas for Rotterdam",
      "weight": 12000,
      "containers": [{"customerId": "cust-1", "origin": "Santos"}]
    }

Every problem with the file is one `CliError` that names the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import json_format
from shippy.consignment.v1 import consignment_pb2
from shippy_kit.cli import USAGE_ERROR, CliError

STDIN = "-"

_UNKNOWN_FIELD = re.compile(r'has no field named "(?P<field>[^"]+)" at "(?P<where>[^"]+)"')


def load_request(path: str, stdin: TextIO) -> consignment_pb2.CreateConsignmentRequest:
    """The request in the file at `path` ("-": stdin)."""
    name = "stdin" if path == STDIN else path
    text = stdin.read() if path == STDIN else _read(path)
    return parse_request(text, name)


def parse_request(text: str, name: str) -> consignment_pb2.CreateConsignmentRequest:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise _bad(name, f"not valid JSON: {error.msg} at {where}") from None
    if not isinstance(data, dict):
        raise _bad(name, "must hold a JSON object with description, weight and containers")
    try:
        return json_format.ParseDict(data, consignment_pb2.CreateConsignmentRequest())
    except json_format.ParseError as error:
        raise _bad(name, _describe(error)) from None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _bad(path, "no such file") from None
    except IsADirectoryError:
        raise _bad(path, "is a directory, not a file") from None
    except PermissionError:
        raise _bad(path, "permission denied") from None
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text") from None
    except OSError as error:
        raise _bad(path, f"cannot read: {error.strerror or error}") from None


def _describe(error: json_format.ParseError) -> str:
    """protobuf's message, on one line; an unknown field said plainly."""
    text = str(error)
    unknown = _UNKNOWN_FIELD.search(text)
    if unknown:
        return f'unknown field "{unknown["field"]}" in {unknown["where"]}'
    return " ".join(text.split())


def _bad(name: str, problem: str) -> CliError:
    return CliError(f"{name}: {problem}", USAGE_ERROR)
