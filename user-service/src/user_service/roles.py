"""Who is an admin or an operator: `python -m user_service.roles`, run by
whoever holds user-service's database (there is no RPC that grants a role).

    DATABASE_URL=... python -m user_service.roles grant ada@example.com operator
    DATABASE_URL=... python -m user_service.roles revoke ada@example.com operator
    DATABASE_URL=... python -m user_service.roles list

`admin` may list every user (GetAll), read any user (Get) and create vessels;
`operator` may create vessels. A user's roles go into the `roles` claim of
the tokens `Auth` issues from then on: a change takes effect at the user's
next login, and a token issued before a revoke keeps its roles until it
expires (JWT_TTL).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from micro.config import ConfigError, required
from micro.errors import Unavailable
from shippy_kit.postgres import connection_pool, open_pool
from shippy_kit.tokens import ROLES

from user_service.repository import UserRepository


async def _run(database_url: str, args: argparse.Namespace) -> str:
    pool = connection_pool(database_url, name="user-roles", max_size=1)
    await open_pool(pool)
    try:
        repository = UserRepository(pool)
        await repository.create_schema()
        if args.command == "list":
            rows = await repository.with_roles()
            return "\n".join(f"{email}  {', '.join(roles)}" for email, roles in rows)
        change = repository.grant if args.command == "grant" else repository.revoke
        if not await change(args.email, args.role):
            raise LookupError(f"no user with email {args.email}")
        done = "granted to" if args.command == "grant" else "revoked from"
        return f"{args.role} {done} {args.email}"
    finally:
        await pool.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m user_service.roles",
        description="Grant, revoke and list the roles of user-service's users"
        " (reads DATABASE_URL).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("grant", "revoke"):
        command = commands.add_parser(name, help=f"{name} a role")
        command.add_argument("email")
        command.add_argument("role", choices=ROLES)
    commands.add_parser("list", help="the users who have a role")
    args = parser.parse_args(argv)
    try:
        database_url = required(os.environ, "DATABASE_URL")
        print(asyncio.run(_run(database_url, args)))
    except (ConfigError, LookupError, Unavailable) as error:
        print(f"user-roles: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
