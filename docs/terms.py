"""The words the tutorial teaches, and where each one is explained.

Read in order, chapter 1 to 9, a chapter leaves nothing unexplained: the
first time a term of `TERMS` is used, it is the explaining use, written in
bold with what it means in the same sentence or the next:

    Subscribers that share a **queue group** (`queue="shippy.email"`) share
    the events instead: each event goes to one member of the group.

Bold elsewhere is free, and a term may be explained again in passing; it is
bolded as explained in one chapter only. What counts as a use is prose:
fenced blocks (code, console, Mermaid), HTML comments, code spans, link
targets and headings are passed over (a code span names a file or an
identifier, and a heading announces what the section under it explains).
Spellings match case-insensitively, at word boundaries. `tests/test_terms.py`
runs the check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from docs.chapters import FENCE, chapter_files


@dataclass(frozen=True, init=False)
class Term:
    """A term and the spellings that count as a use of it (its plurals too)."""

    name: str
    spellings: tuple[str, ...]
    since: int
    """The chapter from which a spelling means this term: a word that means
    something else earlier ("stream" in chapter 3) is another term there."""

    def __init__(self, name: str, *also: str, since: int = 1) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "spellings", (name, *also))
        object.__setattr__(self, "since", since)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        longest_first = sorted(self.spellings, key=len, reverse=True)
        words = "|".join(re.escape(s).replace(r"\ ", r"\s+") for s in longest_first)
        return re.compile(rf"\b(?:{words})\b", re.I)

    @functools.cached_property
    def _lowered(self) -> frozenset[str]:
        return frozenset(s.lower() for s in self.spellings)

    def spelled_by(self, text: str) -> bool:
        return " ".join(text.split()).lower() in self._lowered


TERMS: tuple[Term, ...] = (
    # 1. Contracts, and a first gRPC service
    Term("service", "services"),
    Term("contract", "contracts"),
    Term("consignment", "consignments"),
    Term("RPC", "RPCs", "remote procedure call", "remote procedure calls"),
    Term("protobuf", "Protocol Buffers"),
    Term("gRPC"),
    Term("deadline", "deadlines"),
    Term("metadata"),
    Term("token", "tokens"),
    Term("servicer", "servicers"),
    Term("stub", "stubs"),
    Term("interceptor", "interceptors", "wrapper", "wrappers"),
    Term("health check", "health checks"),
    Term("registry", "registries"),
    Term("node", "nodes"),
    Term("reflection"),
    Term("broker", "brokers"),
    Term("event", "events"),
    Term("NATS"),
    Term("transport", "transports"),
    Term("plugin", "plugins"),
    # 2. Running it
    Term("JetStream", "NATS JetStream"),
    Term("SMTP"),
    Term("key pair", "key pairs", "private key", "private keys", "public key", "public keys"),
    Term("NKey", "NKeys"),
    Term("NATS subject", "NATS subjects", "subject", "subjects"),
    Term("JWT", "JWTs", "JSON Web Token", "JSON Web Tokens"),
    # 3. A second service, and finding it
    Term("TTL", "TTLs", "time to live"),
    Term("heartbeat", "heartbeats"),
    Term("contract test", "contract tests"),
    Term("selector", "selectors"),
    Term("load balancing"),
    Term("round robin"),
    Term("watch", "watches"),
    Term("filter", "filters"),
    Term("canary", "canaries"),
    Term("streaming", "stream", "streams", "streamed"),
    Term("unary"),
    # 4. Users, passwords and tokens
    Term("bcrypt"),
    Term("event loop", "event loops"),
    Term("role", "roles"),
    Term("kid", "key id", "key ids"),
    Term("thumbprint", "thumbprints"),
    Term("leeway"),
    Term("JWKS", "JSON Web Key Set"),
    # 5. Events
    Term("topic", "topics"),
    Term("publisher", "publishers"),
    Term("subscriber", "subscribers"),
    Term("at most once"),
    Term("at least once"),
    Term("event id", "event ids"),
    Term("codec", "codecs"),
    Term("replica", "replicas"),
    Term("queue group", "queue groups", "queue-group"),
    # 6. Not losing events
    Term("outbox", "outboxes", "transactional outbox"),
    Term("relay", "relays"),
    Term("JetStream stream", "stream", "streams", "stream's", since=6),
    Term("consumer", "consumers", "durable consumer", "durable consumers"),
    Term("ack", "acks", "acked", "acknowledged", "acknowledges", "acknowledgement"),
    Term("idempotent consumer", "idempotent consumers", "idempotent"),
    Term("dead letter", "dead letters"),
    # 7. Plugins
    Term("distribution", "distributions"),
    Term("entry point", "entry points"),
    Term("request/reply"),
    Term("services API", "NATS services API"),
    Term("fixture", "fixtures"),
    # 9. Beyond one machine
    Term("cluster", "clusters"),
    Term("leader", "leaders"),
    Term("quorum"),
    Term("Kubernetes"),
    Term("Deployment", "Deployments"),
    Term("pod", "pods"),
    Term("probe", "probes"),
    Term("PodDisruptionBudget", "PodDisruptionBudgets"),
    Term("ConfigMap", "ConfigMaps"),
    Term("Secret", "Secrets"),
    Term("Kustomize"),
    Term("overlay", "overlays"),
    Term("manifest", "manifests", since=9),
    Term("Helm chart", "Helm charts", "Helm"),
    Term("Kubernetes operator", "operator", "operators", since=9),
    Term("CloudNativePG"),
)


@dataclass(frozen=True)
class Use:
    term: Term
    chapter: str
    line: int
    offset: int
    spelling: str
    explains: bool
    """Written in bold, as the term and nothing else: `**queue group**`."""

    @property
    def where(self) -> str:
        return f"docs/{self.chapter}:{self.line}"


def chapters() -> list[tuple[str, str]]:
    """The chapters' names and texts, in reading order."""
    return [(path.name, path.read_text()) for path in chapter_files()]


NOT_PROSE = (
    FENCE,
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"(?<=\])\([^)\s]*\)"),  # a link's target; its text is prose
    re.compile(r"^#{1,6} .*$", re.M),
)
BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
CODE = re.compile(r"`[^`]+`")


def blanked(text: str, pattern: re.Pattern[str]) -> str:
    """The text with each match of pattern turned to spaces, newlines kept, so
    that offsets and line numbers stay those of the chapter."""
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), text)


def prose(text: str) -> str:
    for pattern in NOT_PROSE:
        text = blanked(text, pattern)
    return text


def uses(named: Sequence[tuple[str, str]], terms: Sequence[Term] = TERMS) -> list[Use]:
    """Every use of every term in the chapters, in reading order."""
    found = [use for chapter, text in named for use in uses_in(chapter, text, terms)]
    return sorted(found, key=lambda u: (chapter_number(u.chapter), u.offset))


def uses_in(chapter: str, text: str, terms: Sequence[Term]) -> Iterator[Use]:
    """The uses of the terms in one chapter's prose: each explaining bold span,
    and each other match of a spelling."""
    number = chapter_number(chapter)
    meant = [t for t in terms if t.since <= number]
    text = prose(text)
    bold = [
        (b.start(), b.end(), " ".join(b[1].replace("`", "").split())) for b in BOLD.finditer(text)
    ]
    words = blanked(text, CODE)

    def line(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    for term in meant:
        # A spelling that a term of a later chapter shares means that term there.
        later = [t for t in meant if t.since > term.since]
        explaining = [(start, end) for start, end, inner in bold if term.spelled_by(inner)]
        for start, _, inner in bold:
            if term.spelled_by(inner) and not any(t.spelled_by(inner) for t in later):
                yield Use(term, chapter, line(start), start, inner, explains=True)
        for m in term.pattern.finditer(words):
            inside = any(start < m.start() < end for start, end in explaining)
            taken = any(
                (other := t.pattern.match(words, m.start())) and other.end() == m.end()
                for t in later
            )
            if not inside and not taken:
                yield Use(term, chapter, line(m.start()), m.start(), m[0], explains=False)


def chapter_number(chapter: str) -> int:
    """1 for `01-contracts.md`."""
    return int(chapter[:2])


def unexplained(named: Sequence[tuple[str, str]], terms: Sequence[Term] = TERMS) -> list[str]:
    """A line for each term whose first use is not its explanation, in reading
    order, then one for each term that no chapter uses at all."""
    first: dict[Term, Use] = {}
    explanation: dict[Term, Use] = {}
    for use in uses(named, terms):
        first.setdefault(use.term, use)
        if use.explains:
            explanation.setdefault(use.term, use)
    problems = []
    for term, use in first.items():  # in reading order
        if use.explains:
            continue
        if term not in explanation:
            problems.append(f"{use.where}: '{term.name}' is first used here and is never explained")
        else:
            problems.append(
                f"{use.where}: '{term.name}' is first used here without being explained;"
                f" its explanation (**{explanation[term].spelling}**) comes later at"
                f" {explanation[term].where}"
            )
    unused = [term for term in terms if term not in first]
    return problems + [f"'{t.name}' is in docs/terms.py, but no chapter uses it" for t in unused]


def explained_twice(named: Sequence[tuple[str, str]], terms: Sequence[Term] = TERMS) -> list[str]:
    """A line for each term bolded as explained in more than one chapter."""
    found = uses(named, terms)
    problems = []
    for term in terms:
        explanations = [u for u in found if u.term == term and u.explains]
        if len({u.chapter for u in explanations}) > 1:
            places = ", ".join(f"{u.where} (**{u.spelling}**)" for u in explanations)
            problems.append(f"'{term.name}' is explained in more than one chapter: {places}")
    return problems
