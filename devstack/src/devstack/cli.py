"""`python -m devstack run`: the whole stack in one terminal (what `make run` does)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from micro.config import DEFAULT_NATS_URL
from micro.nats_client import redacted

from devstack.console import Console, ConsoleHandler
from devstack.leftovers import stop_leftovers
from devstack.services import SERVICE_NAMES, ServiceProcess
from devstack.settings import SettingsError, StackSettings
from devstack.stack import LocalStack, StackCancelled, StackError, shown_path

DESCRIPTION = """\
Run Shippy on this machine, with real servers and no containers.

  run    start NATS, PostgreSQL, an SMTP server and every service; stream their
         output; stop it all on Ctrl-C (or SIGTERM)
"""

RUN_DESCRIPTION = """\
Start the whole stack and stream every service's output, prefixed with its name.

NATS: NATS_URL (default nats://127.0.0.1:4222) if it answers, else our own
  nats-server with JetStream there, storing under VAR/nats.
PostgreSQL: DATABASE_URL if set, else our own server with data in VAR/postgres
  (port 5433, or the one recorded last time, or any free one), its password
  kept in VAR/postgres-password (mode 0600). Each service
  gets its own database: shippy_user, shippy_email, shippy_consignment, shippy_vessel.
SMTP: SMTP_HOST/SMTP_PORT if set, else our own server keeping each mail as a
  .eml file in VAR/mail.
JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEYS_FILE: if set, else a development Ed25519
  key pair kept in VAR/jwt-private.pem (mode 0600) and VAR/jwt-public.json.
Other variables (for example MICRO_BROKER=nats, BCRYPT_ROUNDS=4) reach
every service unchanged.
"""

USAGE_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE_ERROR
    return int(args.command(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="start the whole stack (what `make run` does)",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--var-dir",
        type=Path,
        default=Path("var"),
        metavar="VAR",
        help="where data, mail and secrets are kept (default: ./var)",
    )
    run.add_argument(
        "--services",
        default=",".join(SERVICE_NAMES),
        help="comma-separated services to start (default: all)",
    )
    run.add_argument(
        "--bin-dir",
        type=Path,
        default=None,
        help="where the services' programs are (default: beside this Python, i.e. .venv/bin)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds each service may take to report SERVING (default: 60)",
    )
    run.set_defaults(command=run_command)
    return parser


def run_command(args: argparse.Namespace) -> int:
    console = Console()
    _show_our_logs(console)
    # Before looking for a NATS that answers: it may be one a killed run left.
    for label in stop_leftovers(args.var_dir / "run"):
        console.say(f"devstack: stopped {label}, left running by a run that was killed")
    try:
        settings = StackSettings.from_environ(os.environ)
        stack = LocalStack(
            args.var_dir,
            settings,
            services=[name.strip() for name in args.services.split(",") if name.strip()],
            bin_dir=args.bin_dir,
            console=console,
            start_timeout=args.timeout,
        )
    except (SettingsError, StackError) as error:
        console.say(f"devstack: {error}")
        return USAGE_ERROR
    console.make_room("devstack", "smtp", *stack.services)
    return asyncio.run(serve(stack, console))


async def serve(stack: LocalStack, console: Console) -> int:
    """Start `stack`, run until a signal or until a service ends by itself,
    then stop everything. Returns the exit code."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, wake.set)

    def on_exit(_instance: ServiceProcess) -> None:
        loop.call_soon_threadsafe(wake.set)

    stack.on_exit = on_exit
    try:
        starting = asyncio.create_task(asyncio.to_thread(stack.start))
        woken = asyncio.create_task(wake.wait())
        await asyncio.wait({starting, woken}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            console.say("devstack: stopping before everything started")
            stack.cancel()
        try:
            await starting
        except StackCancelled:
            return 1
        except StackError as error:
            console.say(f"devstack: {error}")
            return 1
        except Exception as error:
            console.say(f"devstack: could not start: {error}")
            return 1
        if not wake.is_set():
            console.say(banner(stack))
        await woken
        exited = stack.exited()
        for instance in exited:
            console.say(f"devstack: {instance.label} ended by itself; stopping the stack")
        console.say("devstack: stopping")
        await asyncio.to_thread(stack.stop)
        console.say("devstack: stopped")
        return 1 if exited else 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def banner(stack: LocalStack) -> str:
    env = "" if stack.nats_url == DEFAULT_NATS_URL else f"NATS_URL={redacted(stack.nats_url)} "
    mail = f"ls {shown_path(stack.mail_dir)}/" if stack.mail_dir else "(mail goes to SMTP_HOST)"
    return f"""
Shippy is running:
{stack.describe()}

Try it from another terminal:
  {env}.venv/bin/user-cli create --name "Ada Lovelace" --email ada@example.com \\
      --company "Analytical Engines" --password-stdin <<< 'correct horse battery'
  TOKEN=$({env}.venv/bin/user-cli login --email ada@example.com --password-stdin <<< 'correct horse battery')
  {env}.venv/bin/consignment-cli create consignment.json --token "$TOKEN"
  {env}.venv/bin/consignment-cli list --token "$TOKEN"
  {mail}    # the welcome email
{_dead_letters_line(stack, env)}
Ctrl-C stops everything.
"""


def _dead_letters_line(stack: LocalStack, env: str) -> str:
    """How to list the dead letters: with the operator's login when NATS asks for one."""
    login = stack.operator_login.nkey_seed_file
    nkey = f"NATS_NKEY={shown_path(Path(login))} " if login else ""
    return f"  {env}{nkey}.venv/bin/shippy-dead-letters list    # events given up on\n"


def _show_our_logs(console: Console) -> None:
    handler = ConsoleHandler(console)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ours = logging.getLogger("devstack")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False


if __name__ == "__main__":
    sys.exit(main())
