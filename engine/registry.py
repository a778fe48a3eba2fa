"""The case types theodoi knows, each with one shared ``transitions`` machine.

One ``Machine`` per workflow, built with ``model=None`` and fired as
``machine.events[name].trigger(subject)`` on a light wrapper of the case row: one
machine per case would cost minutes and gigabytes at 100,000 cases, ``add_model``
is quadratic, and decorating SQLModel objects breaks (pytransitions #434, #379, #635).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from transitions import Machine, MachineError

from kernel.errors import TransitionNotAllowed
from kernel.settings import Config, workflow_section
from workflows import catalog
from workflows.definition import Transition, Workflow, WorkflowSettings


class _Subject:
    """What the shared machine moves: the case's state plus the step in hand."""

    __slots__ = ("state", "case", "step", "rules", "refusal")

    def __init__(self, case: Any, step: Any, rules: Any) -> None:
        self.state = case.state
        self.case = case
        self.step = step
        self.rules = rules
        self.refusal: str | None = None


def _condition(transition: Transition):
    def check(event_data: Any) -> bool:
        subject: _Subject = event_data.model
        refusal = transition.guard(subject.case, subject.step, subject.rules)
        subject.refusal = refusal
        return refusal is None

    return check


@dataclass(frozen=True)
class Runtime:
    """A workflow definition and its machine."""

    workflow: Workflow
    machine: Machine

    def check(self, case: Any, event: str, step: Any, rules: Any) -> Transition:
        """The transition ``event`` takes from the case's state, or TransitionNotAllowed."""
        transition = self.workflow.transition(event, case.state)
        missing = [
            need
            for need in (transition.needs if transition else ())
            if not (step.reason if need == "reason" else step.params.get(need))
        ]
        if transition is None or event not in self.machine.events:
            raise TransitionNotAllowed(case.id, case.state, event, self._allowed(case.state))
        if missing:
            raise TransitionNotAllowed(case.id, case.state, event, f"needs {', '.join(missing)}")
        subject = _Subject(case, step, rules)
        try:
            moved = self.machine.events[event].trigger(subject)
        except MachineError as exc:
            raise TransitionNotAllowed(case.id, case.state, event, str(exc)) from exc
        if not moved:
            raise TransitionNotAllowed(case.id, case.state, event, subject.refusal or "refused")
        return transition

    def allowed_events(self, state: str) -> list[str]:
        return [t.event for t in self.workflow.transitions if state in t.source]

    def _allowed(self, state: str) -> str:
        allowed = [e for e in self.allowed_events(state) if e not in self.workflow.auto.values()]
        return "allowed here: " + (", ".join(allowed) if allowed else "nothing (final state)")


def build_runtime(workflow: Workflow) -> Runtime:
    transitions = []
    for t in workflow.transitions:
        spec: dict[str, Any] = {"trigger": t.event, "source": list(t.source), "dest": t.dest}
        if t.guard is not None:
            spec["conditions"] = [_condition(t)]
        transitions.append(spec)
    machine = Machine(
        model=None,
        states=list(workflow.states),
        transitions=transitions,
        initial=workflow.initial,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    return Runtime(workflow, machine)


class Registry:
    """Workflow name → runtime, loaded and validated once."""

    def __init__(self, workflows: list[Workflow]) -> None:
        self._runtimes = {wf.name: build_runtime(wf) for wf in workflows}

    @classmethod
    def load(cls, modules: tuple[str, ...] = catalog.MODULES) -> Registry:
        """The case types of ``workflows.catalog`` (those installed)."""
        return cls(catalog.definitions(modules))

    def __getitem__(self, name: str) -> Runtime:
        return self._runtimes[name]

    def __contains__(self, name: str) -> bool:
        return name in self._runtimes

    def names(self) -> list[str]:
        return list(self._runtimes)

    def states_tagged(self, *tags: str, event: str | None = None) -> tuple[str, ...]:
        """The states of every workflow here having all of ``tags`` (see
        :func:`union_tagged`)."""
        return union_tagged((rt.workflow for rt in self._runtimes.values()), *tags, event=event)

    def phase(self, state: str, workflow: str | None = None) -> str | None:
        """The phase of ``state`` in ``workflow``; without one, the phase the state has
        in every workflow having it (None when they disagree or none has it)."""
        if workflow in self._runtimes and state in self._runtimes[workflow].workflow.states:
            return self._runtimes[workflow].workflow.phase(state)
        phases = {
            rt.workflow.phase(state)
            for rt in self._runtimes.values()
            if state in rt.workflow.states
        }
        return phases.pop() if len(phases) == 1 else None

    def settings(self, name: str, config: Config) -> WorkflowSettings:
        """``[workflows.<name>]`` of ``config`` as the workflow's typed settings (the
        model's defaults for what is not written; ConfigError when a value is bad)."""
        workflow = self._runtimes[name].workflow
        return workflow_section(workflow.settings, name, config.workflows.get(name, {}))


# -- state tags ---------------------------------------------------------------------------
# Reports, the digest and the pages classify a state by its tags (waiting, due, late,
# done, cancelled; escalated, review), never by its name: a state or a case type added
# in its own module is classified without a change here or in its callers.


def union_tagged(
    workflows: Iterable[Workflow], *tags: str, event: str | None = None
) -> tuple[str, ...]:
    """The names of the states having every one of ``tags`` over ``workflows`` (each
    name once, in declaration order); with ``event``, only the states that event may
    leave (``event="file"``: the states a report is filed from). A storage query
    filtering on state names takes this list."""
    out: dict[str, None] = {}
    for wf in workflows:
        for state in wf.states_tagged(*tags):
            if event is None or wf.transition(event, state) is not None:
                out.setdefault(state)
    return tuple(out)


@cache
def definition(name: str) -> Workflow:
    """The definition of case type ``name`` from ``workflows.catalog`` (for module-level
    constants of code that is about one case type, such as the trip report)."""
    for wf in catalog.definitions():
        if wf.name == name:
            return wf
    raise KeyError(f"no case type '{name}' in workflows.catalog")


def states_tagged(*tags: str, event: str | None = None) -> tuple[str, ...]:
    """:func:`union_tagged` over every case type of ``workflows.catalog``."""
    return union_tagged(catalog.definitions(), *tags, event=event)
