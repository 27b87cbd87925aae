"""consignment-cli against a running ShippingService, found through the NATS
registry: the token travels as "authorization: Bearer <token>"; a person
sees short text, a script gets --json."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

RunCli = Callable[..., Awaitable[tuple[int, str, str]]]

BANANAS = {
    "description": "Bananas for Rotterdam",
    "weight": 12000,
    "containers": [
        {"customerId": "cust-1", "origin": "Santos"},
        {"customer_id": "cust-2", "origin": "Santos"},
    ],
}


@pytest.fixture
def bananas(tmp_path: Path) -> Path:
    path = tmp_path / "consignment.json"
    path.write_text(json.dumps(BANANAS))
    return path


async def test_create_sends_the_file_with_the_token_and_prints_the_result(
    shipping: Any, consignment_cli: RunCli, bananas: Path
) -> None:
    code, out, err = await consignment_cli("create", str(bananas), "--token", "ada-token")

    assert (code, err) == (0, "")
    [stored] = shipping.consignments
    assert stored.user_id == "user-ada"
    assert [c.customer_id for c in stored.containers] == ["cust-1", "cust-2"]
    assert out == (
        f"created consignment {stored.id}: 'Bananas for Rotterdam', 12000 kg,"
        " 2 containers, on vessel vessel-boaty\n"
    )


async def test_the_token_may_come_from_shippy_token(
    shipping: Any, consignment_cli: RunCli, bananas: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPPY_TOKEN", "grace-token")

    code, _, _ = await consignment_cli("create", str(bananas))

    assert code == 0
    assert [c.user_id for c in shipping.consignments] == ["user-grace"]


async def test_create_reads_stdin_with_a_dash_and_prints_json(
    shipping: Any, consignment_cli: RunCli
) -> None:
    code, out, _ = await consignment_cli(
        "--json", "create", "-", "--token", "ada-token", stdin=json.dumps(BANANAS)
    )

    assert code == 0
    consignment = json.loads(out)["consignment"]
    assert consignment["description"] == "Bananas for Rotterdam"
    assert consignment["weight"] == "12000"  # int64 is a string in protobuf JSON
    assert consignment["vesselId"] == "vessel-boaty"
    assert len(consignment["containers"]) == 2


async def test_a_token_the_service_refuses_is_one_line(
    shipping: Any, consignment_cli: RunCli, bananas: Path
) -> None:
    code, out, err = await consignment_cli("create", str(bananas), "--token", "forged")

    assert (code, out, err) == (1, "", "consignment-cli: invalid token\n")
    assert shipping.consignments == []


async def test_a_consignment_no_vessel_can_take_is_refused(
    shipping: Any, consignment_cli: RunCli, tmp_path: Path
) -> None:
    heavy = tmp_path / "heavy.json"
    heavy.write_text(json.dumps({**BANANAS, "weight": 600000}))

    code, _, err = await consignment_cli("create", str(heavy), "--token", "ada-token")

    assert code == 1
    assert err.startswith("consignment-cli: no vessel available")


async def test_list_prints_your_consignments_as_a_table(
    shipping: Any, consignment_cli: RunCli, bananas: Path
) -> None:
    await consignment_cli("create", str(bananas), "--token", "ada-token")
    await consignment_cli("create", str(bananas), "--token", "grace-token")

    code, out, _ = await consignment_cli("list", "--token", "ada-token")

    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["ID", "DESCRIPTION", "WEIGHT", "(KG)", "VESSEL", "CONTAINERS"]
    [mine] = [c for c in shipping.consignments if c.user_id == "user-ada"]
    assert re.fullmatch(rf"{mine.id}  Bananas for Rotterdam\s+12000\s+vessel-boaty\s+2", row)


async def test_list_shows_every_page(shipping: Any, consignment_cli: RunCli, bananas: Path) -> None:
    for _ in range(5):  # the fake service gives pages of two
        await consignment_cli("create", str(bananas), "--token", "ada-token")

    code, out, _ = await consignment_cli("list", "--token", "ada-token")

    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == [c.id for c in shipping.consignments]


async def test_list_with_nothing_to_show(shipping: Any, consignment_cli: RunCli) -> None:
    code, out, _ = await consignment_cli("list", "--token", "ada-token")

    assert (code, out) == (0, "no consignments\n")


async def test_list_with_json_for_scripts(
    shipping: Any, consignment_cli: RunCli, bananas: Path
) -> None:
    await consignment_cli("create", str(bananas), "--token", "ada-token")

    code, out, _ = await consignment_cli("list", "--json", "--token", "ada-token")

    assert code == 0
    [consignment] = json.loads(out)["consignments"]
    assert consignment["userId"] == "user-ada"


async def test_the_example_file_is_a_consignment(shipping: Any, consignment_cli: RunCli) -> None:
    example = Path(__file__).parents[2] / "consignment.json"  # the sample the README uses

    code, out, _ = await consignment_cli("create", str(example), "--token", "ada-token", "--json")

    assert code == 0
    assert json.loads(out)["consignment"]["description"] == "Tea and textiles for the spring market"
