"""How replies look: short text for people, or protobuf JSON (`--json`, `shippy_kit.cli.as_json`)
for scripts."""

from __future__ import annotations

from shippy.consignment.v1 import consignment_pb2
from shippy_kit.cli import table


def created(reply: consignment_pb2.CreateConsignmentResponse) -> str:
    c = reply.consignment
    return (
        f"created consignment {c.id}: {c.description!r}, {c.weight} kg, "
        f"{_containers(len(c.containers))}, on vessel {c.vessel_id or '-'}"
    )


def consignments(reply: consignment_pb2.GetConsignmentsResponse) -> str:
    if not reply.consignments:
        return "no consignments"
    return table(
        ("ID", "DESCRIPTION", "WEIGHT (KG)", "VESSEL", "CONTAINERS"),
        [
            (c.id, c.description, str(c.weight), c.vessel_id or "-", str(len(c.containers)))
            for c in reply.consignments
        ],
    )


def _containers(count: int) -> str:
    return f"{count} container" + ("" if count == 1 else "s")
