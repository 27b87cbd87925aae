"""The benchmarks of Shippy's own services, on the whole stack as `make run`
starts it (devstack.LocalStack: NATS with JetStream, PostgreSQL, SMTP and the
four services, each a process of its own); this process is the client.

- sign-up: user-service's Create at a concurrency that keeps every core
  busy, against its bound: the cores over the seconds one bcrypt hash takes
  at the configured cost (measured here, in each round), and beside it what
  bcrypt alone gets from the machine at that moment (as many threads as cores
  hashing in this process: on a shared machine, less than the bound); and
  ValidateToken's p99 at rest against during a second, like burst (a paced
  probe, kept out of the first burst, whose count it would lower); and a
  burst half as long with the probe on an instance that hashes one password
  at a time (BCRYPT_CONCURRENCY=1), which shows what the cores' last share
  costs the other calls' tail.
- token checks: what consignment-service's auth wrapper does for each call
  (read the bearer token, verify it with the public keys) against asking
  user-service's ValidateToken.
- end to end: Create OK until the welcome email is at the SMTP server, for
  sign-ups at a steady pace, through a second user-service instance with a
  lowered bcrypt cost (so that the row measures the events, not bcrypt).
- footprint: each service's resident memory after start and after a run of
  calls, against a bare Python that only imports grpcio, protobuf and
  nats-py; and the time from start to every service healthy, cold (a new
  var directory: initdb, new databases) and warm (the same one again).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import bcrypt
import grpc
import psutil
from devstack.stack import LocalStack
from devstack.waiting import wait_until
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shippy.consignment.v1 import consignment_pb2, consignment_pb2_grpc
from shippy.user.v1 import user_pb2, user_pb2_grpc
from shippy.vessel.v1 import vessel_pb2, vessel_pb2_grpc
from shippy_kit.auth import bearer_token
from shippy_kit.tokens import TokenSettings
from user_service.passwords import available_cores

from bench.stats import Result, in_turn, timed

PASSWORD = "correct horse battery staple"
MiB = 1024 * 1024
E2E_BCRYPT_ROUNDS = 4
"""The least bcrypt allows: the end-to-end row measures events, not hashing."""
BARE_IMPORT = (
    "import grpc, google.protobuf, nats, sys; "
    "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
)


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does (the command line's, or tiny with --quick)."""

    rounds: int
    signup_seconds: float
    signup_in_flight: int
    token_calls: int
    e2e_signups: int
    e2e_per_second: float
    footprint_calls: int
    bcrypt_rounds: int


def new_user(n: int | str) -> user_pb2.CreateRequest:
    return user_pb2.CreateRequest(
        name=f"Bench User {n}",
        company="Bench Ltd",
        email=f"bench-{n}-{uuid.uuid4().hex[:12]}@example.com",
        password=PASSWORD,
    )


PROBE_INTERVAL = 0.005
"""How often the latency probe calls: a client calling flat out would itself
take most of a core (its own, user-service's loop, PostgreSQL's) from the
sign-ups whose effect it measures."""


async def latencies_while(
    call: Callable[[], Awaitable[object]], until: Callable[[], bool]
) -> list[float]:
    """Call one at a time, one call every PROBE_INTERVAL (or as soon as the
    last one returned, when it took longer), until `until()`; each call's
    latency in µs."""
    latencies: list[float] = []
    next_at = time.monotonic()
    while not until():
        t0 = time.perf_counter_ns()
        await call()
        latencies.append((time.perf_counter_ns() - t0) / 1000)
        next_at += PROBE_INTERVAL
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return latencies


def after_seconds(seconds: float) -> Callable[[], bool]:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline


async def timed_calls(
    call: Callable[[], Awaitable[object]], count: int
) -> tuple[float, list[float]]:
    """`count` calls one at a time: the seconds they took, and each one's latency (µs)."""
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter_ns()
        await call()
        latencies.append((time.perf_counter_ns() - t0) / 1000)
    return time.perf_counter() - start, latencies


def one_hash_seconds(cost: int) -> float:
    """The median of three bcrypt hashes at `cost`, one at a time, in this process."""
    salt = bcrypt.gensalt(cost)

    def one() -> float:
        t0 = time.perf_counter()
        bcrypt.hashpw(PASSWORD.encode(), salt)
        return time.perf_counter() - t0

    return statistics.median(one() for _ in range(3))


def parallel_hashes_per_second(cost: int, threads: int, seconds: float) -> float:
    """bcrypt hashes a second with `threads` hashing at once in this process, for
    about `seconds`: what the machine gives bcrypt now, other tenants and all."""
    salt = bcrypt.gensalt(cost)
    stop = after_seconds(seconds)

    def hash_until_stopped() -> int:
        count = 0
        while not stop():
            bcrypt.hashpw(PASSWORD.encode(), salt)
            count += 1
        return count

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(lambda _: hash_until_stopped(), range(threads)))
    return done / (time.perf_counter() - start)


class Users:
    """A channel to one user-service instance, and a token of a user made there."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = user_pb2_grpc.UserServiceStub(self.channel)
        self.token = ""

    async def sign_in(self) -> str:
        request = new_user("token")
        await self.stub.Create(request)
        reply = await self.stub.Auth(
            user_pb2.AuthRequest(email=request.email, password=request.password)
        )
        self.token = reply.token
        return self.token

    async def validate(self) -> None:
        await self.stub.ValidateToken(user_pb2.ValidateTokenRequest(token=self.token))


@asynccontextmanager
async def another_user_service(stack: LocalStack, env: dict[str, str]) -> AsyncIterator[Users]:
    """One more user-service instance, configured with `env`, and a channel to
    it; the instance is stopped after the block."""
    instance = await asyncio.to_thread(stack.start_service, "user-service", env)
    users = Users(instance.address)
    try:
        yield users
    finally:
        await users.channel.close()
        await asyncio.to_thread(stack.stop_service, "user-service", instance.index)


async def signup_burst(users: Users, sizes: Sizes) -> tuple[int, float]:
    """Sign-ups, `signup_in_flight` at a time for `signup_seconds`: how many,
    in how long."""
    stop = after_seconds(sizes.signup_seconds)
    created = 0

    async def sign_up() -> None:
        nonlocal created
        while not stop():
            await users.stub.Create(new_user(uuid.uuid4().hex[:8]))
            created += 1

    start = time.perf_counter()
    await asyncio.gather(*(sign_up() for _ in range(sizes.signup_in_flight)))
    return created, time.perf_counter() - start


async def latencies_during_signups(
    users: Users, sizes: Sizes
) -> tuple[list[float], tuple[int, float]]:
    """ValidateToken's latencies during a sign-up burst of its own, and the
    burst's sign-ups in its seconds. The main row counts its sign-ups in
    another burst, without this probe: its calls, few as they are, take a
    share of the cores (a ValidateToken costs about a millisecond of CPU in
    user-service, the client and PostgreSQL), and the bound has the whole
    machine."""
    burst = asyncio.ensure_future(signup_burst(users, sizes))
    await asyncio.sleep(min(0.5, sizes.signup_seconds / 4))  # until the hashes fill the cores
    latencies = await latencies_while(users.validate, burst.done)
    return latencies, await burst


async def bench_signup(stack: LocalStack, sizes: Sizes) -> list[Result]:
    """Rounds of: the bound (one hash, here), bcrypt alone, ValidateToken at
    rest, a sign-up burst, another with ValidateToken called throughout it,
    and a shorter one of those on an instance that hashes one password at a time."""
    cores = available_cores()
    signup = f"sign-up (Create), cost {sizes.bcrypt_rounds}, {sizes.signup_in_flight} in flight"
    bound = Result(signup, f"bound: {cores} cores ÷ one hash", True)
    parallel = Result(signup, f"bcrypt alone: {cores} threads hashing in the bench process")
    created = Result(signup, "user-service Create")
    tokens = f"ValidateToken, 1 in flight, one call every {PROBE_INTERVAL * 1000:g} ms"
    at_rest = Result(tokens, "at rest", True, compare="p99")
    during = Result(tokens, "during the sign-up burst", compare="p99")
    one_at_a_time = "one hash at a time (BCRYPT_CONCURRENCY=1)"
    created_one = Result(signup, f"user-service Create, {one_at_a_time}, the probe running")
    during_one = Result(tokens, f"during that burst, {one_at_a_time}", compare="p99")
    users = Users(stack.address("user-service"))
    await users.sign_in()
    shorter = replace(sizes, signup_seconds=sizes.signup_seconds / 2)  # the 5-minute budget
    async with another_user_service(stack, {"BCRYPT_CONCURRENCY": "1"}) as single_users:
        await single_users.sign_in()
        for _ in range(sizes.rounds):
            bound.add_value(cores / await asyncio.to_thread(one_hash_seconds, sizes.bcrypt_rounds))
            parallel.add_value(
                await asyncio.to_thread(
                    parallel_hashes_per_second, sizes.bcrypt_rounds, cores, sizes.signup_seconds / 2
                )
            )
            at_rest.add(0, 0.0, await latencies_while(users.validate, after_seconds(1.0)))
            created.add(*await signup_burst(users, sizes), [])
            latencies, _ = await latencies_during_signups(users, sizes)
            during.add(0, 0.0, latencies)
            latencies, (count, seconds) = await latencies_during_signups(single_users, shorter)
            created_one.add(count, seconds, [])
            during_one.add(0, 0.0, latencies)
    await users.channel.close()
    return [bound, parallel, created, created_one, at_rest, during, during_one]


async def bench_tokens(stack: LocalStack, sizes: Sizes) -> list[Result]:
    """Local: the auth wrapper's two steps (bearer_token, TokenVerifier.verify)
    with consignment-service's settings. RPC: ValidateToken, one in flight."""
    name = "token check, 1 at a time"
    rpc = Result(name, "ValidateToken RPC (user-service)", True)
    local = Result(name, "local verification (consignment-service's auth wrapper)")
    verifier = TokenSettings(public_keys_file=stack.jwt_public_keys_file).verifier()
    users = Users(stack.address("user-service"))
    metadata = (("authorization", f"Bearer {await users.sign_in()}"),)

    async def verify_locally() -> None:
        verifier.verify(bearer_token(metadata))

    for n in range(sizes.rounds):
        for call, result in in_turn(((users.validate, rpc), (verify_locally, local)), n):
            seconds, latencies = await timed_calls(call, sizes.token_calls)
            result.add(len(latencies), seconds, latencies)
    await users.channel.close()
    return [rpc, local]


def mail_arrivals(mail_dir: Path) -> dict[str, int]:
    """Recipient -> arrival (ns since the epoch, from the stored message's name)."""
    parser = BytesHeaderParser(policy=policy.default)
    arrivals: dict[str, int] = {}
    for path in mail_dir.glob("[!.]*.eml"):
        headers = parser.parsebytes(path.read_bytes())
        for address in headers["To"].addresses:
            arrivals[address.addr_spec] = int(path.name.split("-")[0])
    return arrivals


async def bench_end_to_end(stack: LocalStack, sizes: Sizes) -> list[Result]:
    """Sign-ups at a steady pace through a user-service instance with bcrypt
    cost E2E_BCRYPT_ROUNDS; the latency of each is from its Create OK to its
    welcome email stored by the SMTP server (one clock: this machine's)."""
    assert stack.mail_dir is not None, "the end-to-end row needs devstack's own SMTP server"
    result = Result(
        f"sign-up → welcome email at SMTP, {sizes.e2e_signups} at {sizes.e2e_per_second:g}/s",
        f"Create OK → mail stored (bcrypt cost lowered to {E2E_BCRYPT_ROUNDS})",
    )
    lowered = {"BCRYPT_ROUNDS": str(E2E_BCRYPT_ROUNDS)}
    async with another_user_service(stack, lowered) as users:
        ok_at: dict[str, int] = {}

        async def sign_up(n: int) -> None:
            request = new_user(f"e2e-{n}")
            await users.stub.Create(request)
            ok_at[request.email] = time.time_ns()

        started = time.perf_counter()
        pending = []
        for n in range(sizes.e2e_signups):
            pending.append(asyncio.create_task(sign_up(n)))
            await asyncio.sleep(
                max(0.0, started + (n + 1) / sizes.e2e_per_second - time.perf_counter())
            )
        await asyncio.gather(*pending)
        mail_dir = stack.mail_dir

        def every_welcome() -> dict[str, int] | None:
            arrivals = mail_arrivals(mail_dir)
            return arrivals if ok_at.keys() <= arrivals.keys() else None

        arrivals = await asyncio.to_thread(
            wait_until, every_welcome, 60, waiting_for="every welcome email"
        )
        result.add(
            len(ok_at),
            (max(arrivals[e] for e in ok_at) - min(ok_at.values())) / 1e9,
            [(arrivals[email] - ok) / 1000 for email, ok in ok_at.items()],
        )
    return [result]


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MiB


@contextmanager
def bare_python() -> Iterator[int]:
    """A Python that has imported grpcio, protobuf and nats-py and waits."""
    process = subprocess.Popen(
        [sys.executable, "-c", BARE_IMPORT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield process.pid
    finally:
        process.kill()
        process.wait()


FOOTPRINT_IN_FLIGHT = 16


async def calls_in_flight(call: Callable[[], Awaitable[object]], count: int) -> None:
    """`count` calls, FOOTPRINT_IN_FLIGHT at a time."""
    left = iter(range(count))

    async def worker() -> None:
        for _ in left:
            await call()

    await asyncio.gather(*(worker() for _ in range(FOOTPRINT_IN_FLIGHT)))


def typical_call(
    service: str, token: str, channel: grpc.aio.Channel
) -> Callable[[], Awaitable[object]]:
    """One call that `service` answers all day (health for email-service, which has no RPCs)."""
    metadata = (("authorization", f"Bearer {token}"),)
    if service == "user-service":
        users = user_pb2_grpc.UserServiceStub(channel)
        validate = user_pb2.ValidateTokenRequest(token=token)
        return lambda: users.ValidateToken(validate)
    if service == "consignment-service":
        consignments = consignment_pb2_grpc.ShippingServiceStub(channel)
        page = consignment_pb2.GetConsignmentsRequest(page_size=10)
        return lambda: consignments.GetConsignments(page, metadata=metadata)
    if service == "vessel-service":
        vessels = vessel_pb2_grpc.VesselServiceStub(channel)
        spec = vessel_pb2.Specification(capacity=1, max_weight=1)
        find = vessel_pb2.FindAvailableRequest(specification=spec)
        return lambda: vessels.FindAvailable(find, metadata=metadata)
    health = health_pb2_grpc.HealthStub(channel)
    check = health_pb2.HealthCheckRequest()
    return lambda: health.Check(check)


async def bench_footprint(stack: LocalStack, sizes: Sizes) -> list[Result]:
    """Every service's RSS as it started, then after `footprint_calls` calls each
    (FOOTPRINT_IN_FLIGHT at a time)."""
    name = "resident memory (RSS)"
    with bare_python() as pid:
        floor = Result(name, "bare Python: import grpc, protobuf, nats", True, unit="MiB")
        floor.add_value(rss_mib(pid))
    pids = {service: stack.instance(service).process.pid for service in stack.services}  # type: ignore[union-attr]
    at_start = {service: rss_mib(pid) for service, pid in pids.items()}
    users = Users(stack.address("user-service"))
    token = await users.sign_in()
    await users.channel.close()
    results = [floor]
    for service, pid in pids.items():
        async with grpc.aio.insecure_channel(stack.address(service)) as channel:
            await calls_in_flight(typical_call(service, token, channel), sizes.footprint_calls)
        started = Result(name, f"{service} after start", unit="MiB")
        started.add_value(at_start[service])
        used = Result(name, f"{service} after {sizes.footprint_calls:,} calls", unit="MiB")
        used.add_value(rss_mib(pid))
        results += [started, used]
    return results


def start_seconds(var_dir: Path, env: dict[str, str]) -> tuple[float, LocalStack]:
    t0 = time.perf_counter()
    stack = LocalStack(var_dir, env=env).start()
    return time.perf_counter() - t0, stack


def run_services(var_dir: Path, sizes: Sizes) -> list[Result]:
    """Starts the stack cold, stops it, starts it warm, then runs every row on it."""
    env = {"BCRYPT_ROUNDS": str(sizes.bcrypt_rounds)}
    startup = "`make run`'s stack: start → every service SERVING"
    cold = Result(startup, "cold (a new var directory)", unit="s")
    warm = Result(startup, "warm (the same var directory again)", unit="s")
    seconds, stack = start_seconds(var_dir, env)
    cold.add_value(seconds)
    stack.stop()
    seconds, stack = start_seconds(var_dir, env)
    warm.add_value(seconds)
    try:
        return [*asyncio.run(_rows(stack, sizes)), cold, warm]
    finally:
        stack.stop()


async def _rows(stack: LocalStack, sizes: Sizes) -> list[Result]:
    with timed("footprint"):
        footprint = await bench_footprint(stack, sizes)  # first: "after start" is right after it
    with timed("sign-up"):
        signup = await bench_signup(stack, sizes)
    with timed("token check"):
        tokens = await bench_tokens(stack, sizes)
    with timed("end-to-end"):
        end_to_end = await bench_end_to_end(stack, sizes)
    return signup + tokens + end_to_end + footprint
