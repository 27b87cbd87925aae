"""The README's walk through the stack, one command at a time, as a user types it:
sign up, get the welcome email, log in, ship a consignment, list it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .backends import MAIL, Stack
from .helpers import Account, new_password, run_cli, succeeded, unique_email

SAMPLE_CONSIGNMENT = Path(__file__).resolve().parents[2] / "consignment.json"


@pytest.mark.needs(MAIL)
def test_a_user_created_with_user_cli_gets_a_welcome_email(stack: Stack) -> None:
    email = unique_email("ada")

    created = run_cli(
        stack,
        "user-cli", "create",
        "--name", "Ada Lovelace", "--email", email, "--company", "Analytical Engines",
        "--password-stdin",
        stdin=new_password(),
    )  # fmt: skip

    assert succeeded(created).stdout.startswith("created user ")
    welcome = stack.wait_for_mail(to=email)
    assert welcome["Subject"] == "Welcome to Shippy, Ada Lovelace"
    assert "Analytical Engines can now ship with us" in welcome.get_content()


def test_login_prints_only_the_token(stack: Stack, user: Account) -> None:
    login = run_cli(
        stack, "user-cli", "login", "--email", user.email, "--password-stdin", stdin=user.password
    )

    token = succeeded(login).stdout.strip()
    assert login.stdout == f"{token}\n"  # so that TOKEN=$(user-cli login ...) works
    check = run_cli(stack, "user-cli", "validate", token, "--json")
    assert succeeded(check).json()["userId"] == user.id


def test_a_consignment_created_with_the_token_goes_on_a_vessel_and_is_listed(
    stack: Stack, token: str
) -> None:
    created = run_cli(
        stack, "consignment-cli", "create", str(SAMPLE_CONSIGNMENT), "--token", token, "--json"
    )

    consignment = succeeded(created).json()["consignment"]
    assert consignment["description"] == "Tea and textiles for the spring market"
    assert consignment["vesselId"], "the consignment was not put on a vessel"
    listed = run_cli(stack, "consignment-cli", "list", "--token", token, "--json")
    assert [c["id"] for c in succeeded(listed).json()["consignments"]] == [consignment["id"]]
