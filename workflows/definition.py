"""The small vocabulary a case type is declared in: states and their tags,
transitions, guards, timer rules, notices, its settings model and its vocabularies.
It imports nothing of theodoi but the kernel, so a workflow can be read, tested and
diagrammed without a database.

Functions a workflow provides receive two duck-typed objects from the engine:

* ``case``: the case row (attributes such as ``state``, ``deadline``, ``data``);
* ``rules``: the workflow's view of time — ``settings`` (its ``[workflows.<name>]``
  section as its typed, frozen settings model), ``deadline(day, duration)``,
  ``add(day, duration)``,
  ``add_working_days(day, n)``, ``start_of_day(day)``, ``office_start(day)``,
  ``end_of_day(day)``, ``local_date(instant)``;
* ``step``: the event being applied — ``at`` (UTC instant), ``actor``, ``reason``,
  ``params`` (a dict of event parameters such as a date).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from kernel.errors import InvalidDefinition
from kernel.settings import Section
from kernel.text import fold

Guard = Callable[[Any, Any, Any], str | None]  # (case, step, rules) -> refusal or None
Action = Callable[[Any, Any, Any], None]  # (case, step, rules) -> mutates the case
When = Callable[[Any, Any], Sequence[datetime | None]]  # (case, rules) -> instants
# (case, step, rules) -> child cases to open now: (workflow name, fields) pairs
Spawn = Callable[[Any, Any, Any], Sequence[tuple[str, dict[str, Any]]]]

RECIPIENT_ROLES = frozenset(
    {
        "unit",  # the unit's address
        "unit_head",  # the head of the unit
        "person",  # the traveller / the case's own contact (case.email)
        "contact",  # a second contact kept in case.data["contact_email"]
        "receiving_agency",  # case.data["receiving_agency_email"]
        "coordinators",
        "leadership",
        "provincial_leadership",
        "ladder",  # level 1 → leadership, level 2+ → provincial leadership
    }
)
ATTACHMENTS = frozenset({"ics", "letter"})

# State tags: what reports, the digest and the pages ask of a state instead of its
# name. Every state has exactly one phase …
PHASES = (
    "waiting",  # nothing is owed yet (a trip not back, a project implementing)
    "due",  # something is owed and its deadline lies ahead
    "late",  # it is owed and its deadline has passed (overdue, escalated)
    "done",  # delivered or ended as it should (filed, accepted, closed, expired)
    "cancelled",  # nothing will be owed (cancelled, waived, terminated)
)
# … and may have these marks, each within one phase.
MARKS = {
    "escalated": "late",  # put to leadership (escalation level ≥ 1)
    "review": "done",  # filed, waiting for a coordinator to accept or send it back
}
TAGS = frozenset({*PHASES, *MARKS})


class WorkflowSettings(Section):
    """Base of a case type's ``[workflows.<name>]`` settings model: frozen, unknown
    keys refused. Durations are ``kernel.settings.DurationText``, ladders
    ``BeforeOffsets`` / ``AfterOffsets``; the defaults are the shipped values."""


@dataclass(frozen=True)
class Term:
    """One value of a vocabulary: the code stored, its labels, other spellings."""

    value: str  # stored in the database: "province"
    vi: str  # "UBND tỉnh"
    en: str  # "Provincial People's Committee"
    aliases: tuple[str, ...] = ()  # other spellings :meth:`Vocabulary.parse` accepts
    vi_formal: str = ""  # the full name written in letters and exports, if longer

    def label(self, lang: str = "vi", *, formal: bool = False) -> str:
        if lang == "en":
            return self.en
        return (self.vi_formal or self.vi) if formal else self.vi


@dataclass(frozen=True)
class Vocabulary:
    """The closed list of values a field of a case type takes, with Vietnamese and
    English labels: ``vocab.values``, ``vocab.label(value, lang)``,
    ``vocab.parse(text)`` (a code, a label or an alias; case and diacritics do not
    matter)."""

    name: str  # the field: "issuer"
    vi: str  # the field's own label: "Cơ quan quyết định"
    en: str  # "Issuer"
    terms: tuple[Term, ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(term.value for term in self.terms)

    def __contains__(self, value: object) -> bool:
        return value in self.values

    def term(self, value: str) -> Term:
        for term in self.terms:
            if term.value == value:
                return term
        raise KeyError(f"{value!r} is not a {self.en.lower()} ({', '.join(self.values)})")

    def label(self, value: str | None, lang: str = "vi", *, formal: bool = False) -> str:
        """The label of ``value``; a value outside the list is shown as it is."""
        if value is None:
            return ""
        return self.term(value).label(lang, formal=formal) if value in self else value

    def choices(self, lang: str = "vi") -> list[tuple[str, str]]:
        """(value, label) pairs in order, for a form's select."""
        return [(term.value, term.label(lang)) for term in self.terms]

    def parse(self, text: object) -> str:
        """The value ``text`` names, or ValueError saying which values exist."""
        value = self._spellings.get(fold(str(text or "")))
        if value is None:
            raise ValueError(f"unknown {self.en.lower()} '{text}'; use {self.allowed()}")
        return value

    def allowed(self) -> str:
        """``"province (UBND tỉnh) or department (Sở Ngoại vụ)"``."""
        items = [f"{term.value} ({term.vi})" for term in self.terms]
        return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]

    def clashes(self) -> list[str]:
        """Spellings that would name two values (a definition error)."""
        seen: dict[str, str] = {}
        out = []
        for term in self.terms:
            for spelling in _spellings(term):
                if seen.setdefault(spelling, term.value) != term.value:
                    out.append(f"'{spelling}' names both {seen[spelling]} and {term.value}")
        return out

    @cached_property
    def _spellings(self) -> dict[str, str]:
        return {spelling: term.value for term in self.terms for spelling in _spellings(term)}


def _spellings(term: Term) -> set[str]:
    texts = (term.value, term.vi, term.en, term.vi_formal, *term.aliases)
    return {fold(text) for text in texts if text}


@dataclass(frozen=True)
class Notice:
    """A message a step sends: its kind (= template name) and who receives it."""

    kind: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    attach: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transition:
    event: str
    source: tuple[str, ...]
    dest: str
    guard: Guard | None = None
    action: Action | None = None
    notices: tuple[Notice, ...] = ()
    needs: tuple[str, ...] = ()  # step fields that must be given: "reason", param names
    doc: str = ""
    spawn: Spawn | None = None  # child cases this step opens (same transaction)
    tell_parent: str | None = None  # event fired on the parent case, if its state allows


@dataclass(frozen=True)
class TimerRule:
    """While a case is in ``state``, fire at each instant ``when`` returns.

    The n-th instant (1-based) is the timer's level. With an ``event`` the timer
    moves the case; without one it only sends its notices (a reminder).
    """

    state: str
    kind: str
    when: When
    event: str | None = None
    notices: tuple[Notice, ...] = ()
    spawn: Spawn | None = None  # child cases the timer opens (see workflows.recurring)


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    states: tuple[str, ...]
    initial: str
    finals: tuple[str, ...]
    transitions: tuple[Transition, ...]
    timers: tuple[TimerRule, ...] = ()
    auto: Mapping[str, str] = field(default_factory=dict)  # entering state → fire event
    on_create: Action | None = None
    on_update: Action | None = None  # after a correction of the case's data (re-import)
    # the event a correction fires when it leaves a late case's deadline ahead again
    reopen: str | None = None
    # (case, event, at, rules) -> the deadline that event set, or None when it set none
    # the calendar decides (recomputed when an admin changes the calendar)
    deadline_from: Callable[[Any, str, datetime, Any], date | None] | None = None
    create_notices: tuple[Notice, ...] = ()
    recurring: Any = None  # a schedule that opens child obligations (see workflows.recurring)
    # state → its tags (see PHASES and MARKS): every state, exactly one phase
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # the model of its [workflows.<name>] section (the engine passes an instance as
    # rules.settings)
    settings: type[WorkflowSettings] = WorkflowSettings
    # field → its closed list of values, with labels (issuer, category, purpose …)
    vocabularies: Mapping[str, Vocabulary] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)

    def tags_of(self, state: str) -> frozenset[str]:
        """The tags of ``state`` (KeyError for a state the workflow does not have)."""
        if state not in self.tags:
            raise KeyError(f"workflow '{self.name}' has no state '{state}'")
        return frozenset(self.tags[state])

    def phase(self, state: str) -> str:
        """The one phase tag of ``state``: waiting, due, late, done or cancelled."""
        return next(tag for tag in self.tags_of(state) if tag in PHASES)

    def states_tagged(self, *tags: str) -> tuple[str, ...]:
        """The states having every one of ``tags``, in declaration order."""
        unknown = set(tags) - TAGS
        if unknown:
            raise ValueError(f"unknown state tag {sorted(unknown)}; tags: {', '.join(TAGS)}")
        return tuple(s for s in self.states if set(tags) <= set(self.tags.get(s, ())))

    def transition(self, event: str, state: str) -> Transition | None:
        for t in self.transitions:
            if t.event == event and state in t.source:
                return t
        return None

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.event for t in self.transitions))

    def timers_for(self, state: str) -> tuple[TimerRule, ...]:
        return tuple(rule for rule in self.timers if rule.state == state)

    def timer_rule(self, kind: str) -> TimerRule | None:
        for rule in self.timers:
            if rule.kind == kind:
                return rule
        return None

    def edges(self) -> Iterable[tuple[str, str, str]]:
        """(source, event, dest) for every transition and every automatic step."""
        for t in self.transitions:
            for source in t.source:
                yield source, t.event, t.dest


def validate(wf: Workflow) -> None:
    """Check a definition: exactly one initial state, every state reachable from it,
    a way out of every state that is not final, a final state reachable from
    everywhere, and every name (events, notices, timers) consistent."""

    states = set(wf.states)
    if len(states) != len(wf.states):
        raise InvalidDefinition(wf.name, "a state is declared twice")
    if wf.initial not in states:
        raise InvalidDefinition(wf.name, f"initial state '{wf.initial}' is not a declared state")
    for final in wf.finals:
        if final not in states:
            raise InvalidDefinition(wf.name, f"final state '{final}' is not a declared state")
    if not wf.finals:
        raise InvalidDefinition(wf.name, "no final state")
    seen: set[tuple[str, str]] = set()
    for t in wf.transitions:
        for s in (*t.source, t.dest):
            if s not in states:
                raise InvalidDefinition(wf.name, f"event '{t.event}' names unknown state '{s}'")
        for s in t.source:
            if (t.event, s) in seen:
                raise InvalidDefinition(
                    wf.name, f"event '{t.event}' is declared twice from state '{s}'"
                )
            seen.add((t.event, s))
            if s in wf.finals:
                raise InvalidDefinition(wf.name, f"final state '{s}' has a way out ('{t.event}')")
    events = set(wf.events)
    kinds = [rule.kind for rule in wf.timers]
    if len(set(kinds)) != len(kinds):
        raise InvalidDefinition(wf.name, "a timer kind is declared twice")
    for rule in wf.timers:
        if rule.state not in states:
            raise InvalidDefinition(wf.name, f"timer '{rule.kind}' names unknown state")
        if rule.event is not None and wf.transition(rule.event, rule.state) is None:
            raise InvalidDefinition(
                wf.name,
                f"timer '{rule.kind}' fires '{rule.event}', which state '{rule.state}' "
                "does not allow",
            )
        if rule.event is None and not rule.notices and rule.spawn is None:
            raise InvalidDefinition(
                wf.name, f"timer '{rule.kind}' neither moves, notifies nor opens cases"
            )
    for state, event in wf.auto.items():
        if state not in states or event not in events or wf.transition(event, state) is None:
            raise InvalidDefinition(wf.name, f"automatic step '{event}' from '{state}' is invalid")
    notices = [*wf.create_notices, *(n for t in wf.transitions for n in t.notices)]
    notices += [n for r in wf.timers for n in r.notices]
    for notice in notices:
        unknown = set(notice.to) | set(notice.cc)
        unknown -= RECIPIENT_ROLES
        if unknown or not notice.to:
            raise InvalidDefinition(
                wf.name, f"notice '{notice.kind}' has unknown or no recipients {sorted(unknown)}"
            )
        if set(notice.attach) - ATTACHMENTS:
            raise InvalidDefinition(wf.name, f"notice '{notice.kind}' has an unknown attachment")

    outgoing: dict[str, set[str]] = {s: set() for s in states}
    for source, _event, dest in wf.edges():
        outgoing[source].add(dest)
    reachable = _closure({wf.initial}, outgoing)
    unreachable = states - reachable
    if unreachable:
        raise InvalidDefinition(wf.name, f"unreachable states: {sorted(unreachable)}")
    for state in states - set(wf.finals):
        if not outgoing[state]:
            raise InvalidDefinition(wf.name, f"state '{state}' has no way out and is not final")
        if not _closure({state}, outgoing) & set(wf.finals):
            raise InvalidDefinition(wf.name, f"no final state can be reached from '{state}'")
    _validate_tags(wf)
    for name, vocabulary in wf.vocabularies.items():
        if name != vocabulary.name:
            raise InvalidDefinition(wf.name, f"vocabulary '{vocabulary.name}' listed as '{name}'")
        if not vocabulary.terms:
            raise InvalidDefinition(wf.name, f"vocabulary '{name}' has no values")
        for clash in vocabulary.clashes():
            raise InvalidDefinition(wf.name, f"vocabulary '{name}': {clash}")
    if not (isinstance(wf.settings, type) and issubclass(wf.settings, WorkflowSettings)):
        raise InvalidDefinition(wf.name, "settings must be a WorkflowSettings model")


def _validate_tags(wf: Workflow) -> None:
    """Every state has exactly one phase, marks only within their phase, final states
    are done or cancelled, and only final states are cancelled."""
    for state in wf.tags:
        if state not in wf.states:
            raise InvalidDefinition(wf.name, f"tags name unknown state '{state}'")
    for state in wf.states:
        tags = tuple(wf.tags.get(state, ()))
        unknown = sorted(set(tags) - TAGS)
        if unknown:
            raise InvalidDefinition(wf.name, f"state '{state}' has unknown tags {unknown}")
        phases = [tag for tag in tags if tag in PHASES]
        if len(phases) != 1:
            raise InvalidDefinition(
                wf.name, f"state '{state}' needs exactly one of {', '.join(PHASES)}; has {phases}"
            )
        for mark in set(tags) & set(MARKS):
            if MARKS[mark] != phases[0]:
                raise InvalidDefinition(
                    wf.name, f"state '{state}': '{mark}' goes with '{MARKS[mark]}' only"
                )
        final = state in wf.finals
        if final and "review" in tags:
            raise InvalidDefinition(wf.name, f"final state '{state}' cannot wait for a review")
        if final and phases[0] not in ("done", "cancelled"):
            raise InvalidDefinition(wf.name, f"final state '{state}' must be done or cancelled")
        if not final and phases[0] == "cancelled":
            raise InvalidDefinition(wf.name, f"state '{state}' is cancelled but not final")


def _closure(start: set[str], outgoing: Mapping[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in outgoing[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
