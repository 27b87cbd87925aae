"""The UserService RPCs: validation, passwords, tokens and events.

Storage is the repository's job; this module holds no SQL. Every method
raises `micro.errors` exceptions, which the server turns into status codes.
`UserCreated` goes through the outbox: it is stored in the transaction that
stores the user, and the service's relay publishes it after the commit, so a
crash or a broker outage between the two loses no event.
No response, event or log line carries a password, a hash or a token.

Auth attempts are limited per email and per client address (see
`user_service.limits`): over the limit, RESOURCE_EXHAUSTED saying in how many
seconds to retry (also in the `retry-after` trailing metadata), decided
before any bcrypt work.

Who may call what: Create, Auth and ValidateToken are open; Get and GetAll
pass `shippy_kit.auth.TokenInterceptor` first (UNAUTHENTICATED without a
valid token). A user may Get themselves; Get of anyone else and GetAll need
the `admin` role, else PERMISSION_DENIED (given before the user is looked
up, so it tells nothing about whether the id exists).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from micro.errors import (
    AlreadyExists,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from micro.pubsub import Publisher, new_event_id
from shippy.user.v1 import events_pb2, user_pb2, user_pb2_grpc
from shippy_kit import paging
from shippy_kit.auth import current_claims, require_role
from shippy_kit.tokens import ADMIN

from user_service import validation
from user_service.limits import LoginLimits, client_address
from user_service.passwords import PasswordHasher
from user_service.repository import EmailTaken, User, UserRepository
from user_service.tokens import Tokens

log = logging.getLogger(__name__)

INVALID_CREDENTIALS = "invalid email or password"
RETRY_AFTER = "retry-after"
"""Trailing metadata of a refused login: the seconds to wait, as HTTP's Retry-After."""


class UserHandler(user_pb2_grpc.UserServiceServicer):
    def __init__(
        self,
        repository: UserRepository,
        passwords: PasswordHasher,
        tokens: Tokens,
        user_created: Publisher[events_pb2.UserCreated],
        login_limits: LoginLimits,
    ) -> None:
        self._repository = repository
        self._passwords = passwords
        self._tokens = tokens
        self._user_created = user_created
        self._login_limits = login_limits

    async def Create(
        self, request: user_pb2.CreateRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.CreateResponse:
        name = validation.name(request.name)
        company = validation.company(request.company)
        email = validation.email(request.email)
        password = validation.password(request.password)
        password_hash = await self._passwords.hash(password)
        try:
            async with self._repository.transaction():  # the user and its event, or neither
                user = await self._repository.create(
                    name=name, company=company, email=email, password_hash=password_hash
                )
                event = _created_event(user)
                await self._user_created.publish(event, event_id=event.event_id)
        except EmailTaken:
            raise AlreadyExists("a user with this email already exists") from None
        log.info("user created id=%s event=%s", user.id, event.event_id)
        return user_pb2.CreateResponse(user=_to_message(user))

    async def Get(
        self, request: user_pb2.GetRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetResponse:
        user_id = validation.user_id(request.id)
        caller = current_claims()
        if caller.subject != str(user_id) and not caller.has_role(ADMIN):
            raise PermissionDenied("a user may get only themselves (others need the admin role)")
        user = await self._repository.get(user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return user_pb2.GetResponse(user=_to_message(user))

    async def GetAll(
        self, request: user_pb2.GetAllRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.GetAllResponse:
        require_role(ADMIN)
        size = paging.page_size(request.page_size)
        after = paging.decode(request.page_token)
        found = await self._repository.get_all(limit=size + 1, after=after)
        users, next_page = paging.fill(
            found, size, _to_message, lambda u: paging.PageKey(u.created_at, u.id)
        )
        return user_pb2.GetAllResponse(users=users, next_page_token=next_page)

    async def Auth(
        self, request: user_pb2.AuthRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.AuthResponse:
        email = validation.normalised_email(request.email)
        self._limit_attempts(email, context)
        credentials = await self._repository.get_credentials(email) if email else None
        if credentials is None:
            await self._passwords.verify_nothing(request.password)
            log.info("authentication failed: unknown email")
            raise Unauthenticated(INVALID_CREDENTIALS)
        if not await self._passwords.verify(request.password, credentials.password_hash):
            log.info("authentication failed: wrong password for id=%s", credentials.user_id)
            raise Unauthenticated(INVALID_CREDENTIALS)
        token = self._tokens.issue(str(credentials.user_id), credentials.roles)
        log.info("user authenticated id=%s", credentials.user_id)
        return user_pb2.AuthResponse(token=token.value, expires_at=_timestamp(token.expires_at))

    def _limit_attempts(self, email: str, context: grpc.aio.ServicerContext) -> None:
        key = email[: validation.MAX_EMAIL_LENGTH + 1]  # no longer one has an account
        address = client_address(context.peer())
        wait = self._login_limits.attempt(key, address)
        if wait:
            log.info("authentication refused: too many attempts from %s", address)
            context.set_trailing_metadata(((RETRY_AFTER, str(wait)),))
            raise ResourceExhausted(f"too many login attempts: try again in {wait} s")

    async def ValidateToken(
        self, request: user_pb2.ValidateTokenRequest, context: grpc.aio.ServicerContext
    ) -> user_pb2.ValidateTokenResponse:
        """Checks the token here, with the public keys, and that its user exists."""
        claims = self._tokens.validate(request.token)
        try:
            user_id = uuid.UUID(claims.subject)
        except ValueError:
            raise Unauthenticated("invalid token: the subject is not a user id") from None
        if await self._repository.get(user_id) is None:
            raise Unauthenticated("the token's user does not exist")
        return user_pb2.ValidateTokenResponse(
            user_id=claims.subject, expires_at=_timestamp(claims.expires_at)
        )


def _created_event(user: User) -> events_pb2.UserCreated:
    return events_pb2.UserCreated(
        event_id=new_event_id(),
        occurred_at=_timestamp(user.created_at),
        user_id=str(user.id),
        name=user.name,
        email=user.email,
        company=user.company,
    )


def _to_message(user: User) -> user_pb2.User:
    return user_pb2.User(
        id=str(user.id),
        name=user.name,
        company=user.company,
        email=user.email,
        created_at=_timestamp(user.created_at),
    )


def _timestamp(moment: datetime) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp
