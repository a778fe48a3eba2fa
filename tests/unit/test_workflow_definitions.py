"""Every workflow is validated when it is loaded; a broken one is refused with a clear
InvalidDefinition naming the workflow and the problem."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.registry import Registry
from workflows import catalog
from workflows.decision import ISSUER
from workflows.definition import (
    PHASES,
    TAGS,
    InvalidDefinition,
    Notice,
    Term,
    TimerRule,
    Transition,
    Vocabulary,
    Workflow,
)
from workflows.recurring import Recurring


def _base(**changes) -> Workflow:
    values = {
        "name": "sample",
        "title": "Sample",
        "states": ("open", "done"),
        "initial": "open",
        "finals": ("done",),
        "transitions": (Transition("finish", ("open",), "done"),),
        "tags": {"open": ("due",), "done": ("done",)},
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
        # state tags
        ({"tags": {"open": ("due",)}}, "state 'done' needs exactly one of waiting, due, late"),
        (
            {"tags": {"open": ("due", "late"), "done": ("done",)}},
            "state 'open' needs exactly one of waiting, due, late, done, cancelled; "
            "has ['due', 'late']",
        ),
        (
            {"tags": {"open": ("due", "urgent"), "done": ("done",)}},
            "state 'open' has unknown tags ['urgent']",
        ),
        (
            {"tags": {"open": ("due",), "done": ("done",), "limbo": ("waiting",)}},
            "tags name unknown state 'limbo'",
        ),
        (
            {"tags": {"open": ("due",), "done": ("late",)}},
            "final state 'done' must be done or cancelled",
        ),
        (
            {"tags": {"open": ("cancelled",), "done": ("done",)}},
            "state 'open' is cancelled but not final",
        ),
        (
            {"tags": {"open": ("due", "escalated"), "done": ("done",)}},
            "state 'open': 'escalated' goes with 'late' only",
        ),
        (
            {"tags": {"open": ("due",), "done": ("done", "review")}},
            "final state 'done' cannot wait for a review",
        ),
        # vocabularies and settings
        (
            {"vocabularies": {"issuer": Vocabulary("issuer", "x", "Issuer", ())}},
            "vocabulary 'issuer' has no values",
        ),
        ({"vocabularies": {"who": ISSUER}}, "vocabulary 'issuer' listed as 'who'"),
        (
            {
                "vocabularies": {
                    "colour": Vocabulary(
                        "colour",
                        "Màu",
                        "Colour",
                        (Term("red", "Đỏ", "Red"), Term("pink", "Hồng", "Pink", aliases=("đỏ",))),
                    )
                }
            },
            "vocabulary 'colour': 'do' names both red and pink",
        ),
        ({"settings": dict}, "settings must be a WorkflowSettings model"),
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
    assert names == [
        "trip", "trip_passport", "ngo_project", "ngo_report", "agreement", "agreement_review"
    ]
    assert len(catalog.MODULES) == len(names)
    assert list(catalog.settings_models()) == names
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
        "    initial='a', finals=('z',), transitions=(Transition('go', ('a',), 'b'),),\n"
        "    tags={'a': ('waiting',), 'b': ('due',), 'z': ('done',)})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InvalidDefinition, match="workflow 'broken'"):
        Registry.load(("workflows.trip", "broken_case_type"))


def test_an_unknown_case_type_in_the_catalog_is_an_error():
    with pytest.raises(ModuleNotFoundError):
        catalog.definitions(("workflows.trip", "workflows.nope"))


# -- state tags ------------------------------------------------------------------------


def test_tags_answer_which_states_are_late_or_done():
    wf = Registry.load()["trip"].workflow
    assert wf.states_tagged("late") == ("overdue", "escalated")
    assert wf.states_tagged("done") == ("report_filed", "closed")
    assert wf.states_tagged("waiting") == ("approved", "travelling", "returned")
    assert wf.states_tagged("late", "escalated") == ("escalated",)
    assert wf.tags_of("report_filed") == {"done", "review"}
    assert wf.phase("escalated") == "late"
    with pytest.raises(ValueError, match="unknown state tag"):
        wf.states_tagged("overdue")
    with pytest.raises(KeyError, match="no state 'nowhere'"):
        wf.tags_of("nowhere")


def test_every_state_of_every_case_type_has_one_phase_and_finals_are_done_or_cancelled():
    for runtime in (Registry.load()[name] for name in Registry.load().names()):
        wf = runtime.workflow
        assert set(wf.tags) == set(wf.states), wf.name
        for state in wf.states:
            assert wf.tags_of(state) <= TAGS
            assert len(wf.tags_of(state) & set(PHASES)) == 1, (wf.name, state)
        for final in wf.finals:
            assert wf.phase(final) in ("done", "cancelled")


def test_obligations_are_tagged_alike():
    registry = Registry.load()
    report, review = registry["ngo_report"].workflow, registry["agreement_review"].workflow
    assert report.tags == review.tags
    assert report.states_tagged("late") == ("overdue", "escalated")
    assert report.states_tagged("review") == ("filed",)


# -- vocabularies ----------------------------------------------------------------------


def test_issuer_has_the_two_values_the_report_labels():
    trip = Registry.load()["trip"].workflow
    issuer = trip.vocabularies["issuer"]
    assert issuer.values == ("province", "department")
    assert "other" not in issuer
    assert issuer.label("province") == "UBND tỉnh"
    assert issuer.label("province", "en") == "Provincial People's Committee"
    assert issuer.label("province", formal=True) == "Ủy ban nhân dân tỉnh"
    assert issuer.label("department", "en") == "Department of Foreign Affairs"
    assert issuer.label("Sở Tư pháp") == "Sở Tư pháp"  # not in the list: shown as stored
    assert issuer.label(None) == ""
    assert Registry.load()["ngo_project"].workflow.vocabularies["issuer"] is issuer


@pytest.mark.parametrize(
    ("vocabulary", "text", "value"),
    [
        ("issuer", "province", "province"),
        ("issuer", "PROVINCE", "province"),
        ("issuer", "Ủy ban nhân dân tỉnh", "province"),
        ("issuer", "uỷ ban nhân dân tỉnh", "province"),  # the other placement of the mark
        ("issuer", "ubnd tinh", "province"),
        ("issuer", "  Sở   Ngoại vụ ", "department"),
        ("issuer", "so ngoai vu", "department"),
        ("issuer", "Department of Foreign Affairs", "department"),
        ("category", "BTV Tỉnh uỷ", "standing_committee"),
        ("category", "standing_committee", "standing_committee"),
        ("category", "Locality / unit", "unit"),
        ("category", "diện địa phương, đơn vị quản lý", "unit"),
        ("purpose", "Công vụ", "official"),
        ("purpose", "cong vu", "official"),
        ("purpose", "Private", "private"),
        ("purpose", "VIỆC RIÊNG", "private"),
    ],
)
def test_parse_takes_codes_and_labels_in_either_language(vocabulary, text, value):
    trip = Registry.load()["trip"].workflow
    assert trip.vocabularies[vocabulary].parse(text) == value


@pytest.mark.parametrize("text", ["other", "", None, "Sở Tư pháp", "official"])
def test_parse_refuses_what_is_not_an_issuer_and_says_what_is(text):
    with pytest.raises(ValueError) as caught:
        ISSUER.parse(text)
    assert str(caught.value).endswith(
        "; use province (UBND tỉnh) or department (Sở Ngoại vụ)"
    )
    assert str(caught.value).startswith("unknown issuer")


def test_every_value_has_labels_in_both_languages():
    for name in Registry.load().names():
        for vocabulary in Registry.load()[name].workflow.vocabularies.values():
            assert vocabulary.vi and vocabulary.en
            for term in vocabulary.terms:
                assert term.vi and term.en and term.vi != term.value
                assert vocabulary.parse(term.vi) == vocabulary.parse(term.en) == term.value
            assert [v for v, _ in vocabulary.choices("en")] == list(vocabulary.values)
