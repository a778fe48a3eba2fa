"""Every workflow is validated when it is loaded; a broken one is refused with a clear
InvalidDefinition naming the workflow and the problem."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.registry import WORKFLOW_MODULES, Registry
from workflows.definition import InvalidDefinition, Notice, TimerRule, Transition, Workflow
from workflows.recurring import Recurring


def _base(**changes) -> Workflow:
    values = {
        "name": "sample",
        "title": "Sample",
        "states": ("open", "done"),
        "initial": "open",
        "finals": ("done",),
        "transitions": (Transition("finish", ("open",), "done"),),
    }
    values.update(changes)
    return Workflow(**values)


def test_a_valid_definition_loads():
    assert _base().events == ("finish",)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"initial": "nowhere"}, "initial state 'nowhere' is not a declared state"),
        ({"finals": ()}, "no final state"),
        ({"states": ("open", "done", "open")}, "a state is declared twice"),
        ({"states": ("open", "limbo", "done")}, "unreachable states: ['limbo']"),
        (
            {
                "states": ("open", "stuck", "done"),
                "transitions": (
                    Transition("finish", ("open",), "done"),
                    Transition("jam", ("open",), "stuck"),
                ),
            },
            "state 'stuck' has no way out and is not final",
        ),
        (
            {
                "states": ("open", "a", "b", "done"),
                "transitions": (
                    Transition("finish", ("open",), "done"),
                    Transition("loop", ("open",), "a"),
                    Transition("ping", ("a",), "b"),
                    Transition("pong", ("b",), "a"),
                ),
            },
            "no final state can be reached from '",
        ),
        (
            {"transitions": (Transition("finish", ("open",), "gone"),)},
            "event 'finish' names unknown state 'gone'",
        ),
        (
            {
                "transitions": (
                    Transition("finish", ("open",), "done"),
                    Transition("reopen", ("done",), "open"),
                )
            },
            "final state 'done' has a way out ('reopen')",
        ),
        (
            {"timers": (TimerRule("open", "tick", lambda c, r: [], event="nope"),)},
            "timer 'tick' fires 'nope', which state 'open' does not allow",
        ),
        (
            {"timers": (TimerRule("open", "idle", lambda c, r: []),)},
            "timer 'idle' neither moves, notifies nor opens cases",
        ),
        (
            {
                "timers": (
                    TimerRule("open", "tick", lambda c, r: [], event="finish"),
                    TimerRule("open", "tick", lambda c, r: [], event="finish"),
                )
            },
            "a timer kind is declared twice",
        ),
        (
            {"create_notices": (Notice("hello", to=("everyone",)),)},
            "notice 'hello' has unknown or no recipients ['everyone']",
        ),
        (
            {"create_notices": (Notice("hello", to=("unit",), attach=("pdf",)),)},
            "notice 'hello' has an unknown attachment",
        ),
        ({"auto": {"open": "vanish"}}, "automatic step 'vanish' from 'open' is invalid"),
    ],
)
def test_a_broken_definition_is_refused_with_a_clear_error(changes, problem):
    with pytest.raises(InvalidDefinition) as caught:
        _base(**changes)
    assert str(caught.value).startswith(f"workflow 'sample': {problem}")
    assert caught.value.workflow == "sample"


def test_a_recurring_schedule_is_a_timer_that_opens_cases():
    schedule = Recurring("sample_report", ("open",), lambda c, r: [], lambda c, o, r: {})
    wf = _base(timers=schedule.timers(), recurring=schedule)
    (rule,) = wf.timers
    assert rule.state == "open" and rule.spawn is not None and rule.event is None


def test_every_registered_workflow_loads_and_is_valid():
    registry = Registry.load()
    names = registry.names()
    assert names == ["trip", "ngo_project", "ngo_report", "agreement", "agreement_review"]
    assert len(WORKFLOW_MODULES) == len(names)
    for name in names:
        wf = registry[name].workflow
        replace(wf)  # re-running the checks on a copy passes too
        assert set(registry[name].machine.states) == set(wf.states)
        schedule = wf.recurring
        if schedule is not None:  # the obligations it opens are a registered workflow
            assert schedule.child in registry
            assert all(rule.spawn is not None for rule in schedule.timers())


def test_a_broken_workflow_module_stops_the_registry(tmp_path, monkeypatch):
    module = tmp_path / "broken_case_type.py"
    module.write_text(
        "from workflows.definition import Transition, Workflow\n"
        "WORKFLOW = Workflow(name='broken', title='x', states=('a', 'b', 'z'),\n"
        "    initial='a', finals=('z',), transitions=(Transition('go', ('a',), 'b'),))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidDefinition, match="workflow 'broken'"):
        Registry.load(("workflows.trip", "broken_case_type"))
