"""The small vocabulary a case type is declared in: states, transitions, guards,
timer rules and notices. It imports nothing else of theodoi, so a workflow can be
read, tested and diagrammed without a database.

Functions a workflow provides receive two duck-typed objects from the engine:

* ``case``: the case row (attributes such as ``state``, ``deadline``, ``data``);
* ``rules``: the workflow's view of time — ``settings`` (its config section as a
  mapping), ``deadline(day, duration)``, ``add(day, duration)``,
  ``add_working_days(day, n)``, ``start_of_day(day)``, ``office_start(day)``,
  ``end_of_day(day)``, ``local_date(instant)``;
* ``step``: the event being applied — ``at`` (UTC instant), ``actor``, ``reason``,
  ``params`` (a dict of event parameters such as a date).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from kernel.errors import InvalidDefinition

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

    def __post_init__(self) -> None:
        validate(self)

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


def _closure(start: set[str], outgoing: Mapping[str, set[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in outgoing[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
