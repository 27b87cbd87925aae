"""shippy-dead-letters: list the events subscribers gave up on, and send them back.

    shippy-dead-letters list              # a table: id, topic, queue, attempts, last error
    shippy-dead-letters list --json       # the same, with sequence and time, for scripts
    shippy-dead-letters replay EVENT_ID   # publish it again on its topic, then forget it
    shippy-dead-letters replay --all

An event lands in the dead letters when a JetStream subscriber's handler
failed on each of its `MICRO_JETSTREAM_MAX_DELIVER` attempts (see
`micro.broker.dead_letters`). Replaying publishes the original event, with
its id, on its topic: every queue group of that topic gets it again, and an
idempotent one (email-service) recognises it if it had handled it.

Exit codes: 0 done; 1 NATS could not be reached, or answered with an error
(an unknown event id); 2 the command line was wrong. An error is one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from micro.broker.dead_letters import DeadLetters
from micro.config import Options

from shippy_kit.cli import USAGE_ERROR, CliError, CommandLine, check_nats

PROG = "shippy-dead-letters"

EXAMPLES = """\
examples:
  shippy-dead-letters list
  shippy-dead-letters list --json
  shippy-dead-letters replay 3f2b8c1d9e4a4b7f8a6c5d4e3f2a1b0c
  shippy-dead-letters replay --all

It reads the dead-letter stream (MICRO_DEAD_LETTERS) on the NATS server at
NATS_URL (default nats://127.0.0.1:4222); `make run` starts one.
"""

COLUMNS = ("ID", "TOPIC", "QUEUE", "ATTEMPTS", "LAST ERROR")


def _reply_types() -> tuple[type[Message], type[Message]]:
    """The replies, as protobuf messages (what `CommandLine` prints, and
    `--json` shows in protobuf's JSON mapping), described here rather than
    in a .proto file: only this command uses them."""
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="shippy_kit/dead_letters.proto", package="shippy.kit", syntax="proto3"
    )
    letter = file.message_type.add(name="DeadLetter")
    columns = [
        ("event_id", field.TYPE_STRING),
        ("topic", field.TYPE_STRING),
        ("queue", field.TYPE_STRING),
        ("attempts", field.TYPE_INT32),
        ("last_error", field.TYPE_STRING),
        ("sequence", field.TYPE_UINT64),
        ("time", field.TYPE_STRING),
    ]
    for number, (name, kind) in enumerate(columns, start=1):
        letter.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    listed = file.message_type.add(name="DeadLetterList")
    listed.field.add(
        name="dead_letters",
        number=1,
        type=field.TYPE_MESSAGE,
        type_name=".shippy.kit.DeadLetter",
        label=field.LABEL_REPEATED,
    )
    replay_reply = file.message_type.add(name="Replayed")
    replay_reply.field.add(
        name="event_id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL
    )
    replay_reply.field.add(
        name="replayed", number=2, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("shippy.kit.DeadLetterList")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("shippy.kit.Replayed")),
    )


LIST_REPLY, REPLAY_REPLY = _reply_types()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    return build_cli().main(argv)


def build_cli() -> CommandLine:
    cli = CommandLine(
        PROG,
        "List the events that JetStream subscribers gave up on (after\n"
        "MICRO_JETSTREAM_MAX_DELIVER failed attempts), and replay them.",
        EXAMPLES,
    )
    cli.subcommand(
        "list",
        "list the dead letters, oldest first",
        "shippy-dead-letters list\n  shippy-dead-letters list --json",
        command=_list,
        render=table,
    )
    replay = cli.subcommand(
        "replay",
        "publish a dead event again on its original topic, then remove it from the dead letters",
        "shippy-dead-letters replay 3f2b8c1d9e4a4b7f8a6c5d4e3f2a1b0c\n"
        "  shippy-dead-letters replay --all",
        command=_replay,
        render=replayed,
    )
    replay.add_argument(
        "event_id", metavar="EVENT_ID", nargs="?", help="the event's id (its Micro-Id)"
    )
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    return cli


def _list(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    return list_dead_letters(options)


def _replay(args: argparse.Namespace, options: Options) -> Coroutine[Any, Any, Message]:
    if args.all == bool(args.event_id):
        raise CliError("replay takes an EVENT_ID or --all (one of the two)", USAGE_ERROR)
    return replay(options, None if args.all else args.event_id)


async def list_dead_letters(options: Options) -> Message:
    await check_nats(options.nats_url, login=options.nats_login)
    async with DeadLetters.connect(
        options.nats_url,
        options.jetstream,
        login=options.nats_login,
        request_timeout=options.client_timeout,
    ) as dead_letters:
        letters = await dead_letters.list()
    return LIST_REPLY(
        dead_letters=[
            {
                "event_id": letter.event_id,
                "topic": letter.topic,
                "queue": letter.queue,
                "attempts": letter.attempts,
                "last_error": letter.last_error,
                "sequence": letter.sequence,
                "time": letter.time.isoformat(),
            }
            for letter in letters
        ]
    )


async def replay(options: Options, event_id: str | None) -> Message:
    """Replay `event_id`, or every dead letter when it is None."""
    await check_nats(options.nats_url, login=options.nats_login)
    async with DeadLetters.connect(
        options.nats_url,
        options.jetstream,
        login=options.nats_login,
        request_timeout=options.client_timeout,
    ) as dead_letters:
        if event_id is None:
            count = await dead_letters.replay_all()
        else:
            count = await dead_letters.replay(event_id)
    return REPLAY_REPLY(event_id=event_id or "", replayed=count)


def table(reply: Any) -> str:
    """The dead letters as columns; the error, the widest, comes last."""
    if not reply.dead_letters:
        return "no dead letters"
    rows = [COLUMNS]
    for letter in reply.dead_letters:
        rows.append(
            (
                letter.event_id or "(no id)",
                letter.topic,
                letter.queue or "-",
                str(letter.attempts),
                letter.last_error,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def replayed(reply: Any) -> str:
    letters = "dead letter" if reply.replayed == 1 else "dead letters"
    if reply.event_id:
        return f"replayed event {reply.event_id} ({reply.replayed} {letters})"
    return f"replayed {reply.replayed} {letters}"


if __name__ == "__main__":
    sys.exit(main())
