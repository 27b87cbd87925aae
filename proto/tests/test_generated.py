"""The committed generated code is exactly what `make proto` produces."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

PROTO = Path(__file__).resolve().parents[1]


def _tree(root: Path) -> set[Path]:
    return {
        p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


def test_committed_code_matches_make_proto(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(PROTO / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed, fresh = PROTO / "src", tmp_path

    assert _tree(committed) == _tree(fresh), "run `make proto` and commit proto/src"
    stale = [
        str(path)
        for path in sorted(_tree(fresh))
        if not filecmp.cmp(committed / path, fresh / path, shallow=False)
    ]
    assert stale == [], f"stale generated files (run `make proto`): {stale}"


def test_no_message_carries_a_password_hash() -> None:
    from shippy.user.v1 import events_pb2, user_pb2

    event_fields = {f.name for f in events_pb2.UserCreated.DESCRIPTOR.fields}
    assert "password" not in event_fields
    for message in user_pb2.DESCRIPTOR.message_types_by_name.values():
        assert not any("hash" in f.name for f in message.fields), message.full_name
