"""A workflow's lifecycle drawn from its definition, never by hand.

:func:`mermaid` gives a Mermaid ``stateDiagram-v2`` (GitHub and most Markdown viewers
render it); :func:`text` a plain listing of states, transitions and timers. Edges a
timer fires are marked ``⏱``, automatic steps ``auto``, steps that open child cases
``⇒ child``. Graphviz output goes through ``transitions``' GraphMachine and is only
offered when the ``graphviz`` Python package is installed (:func:`graphviz_source`).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from workflows.definition import Workflow


def _timer_events(wf: Workflow) -> dict[tuple[str, str], str]:
    """(state, event) → the timer kind that fires it."""
    return {(r.state, r.event): r.kind for r in wf.timers if r.event is not None}


def _child(wf: Workflow) -> str | None:
    schedule = wf.recurring
    return getattr(schedule, "child", None)


def edge_label(wf: Workflow, source: str, event: str) -> str:
    transition = wf.transition(event, source)
    parts = [event]
    if (source, event) in _timer_events(wf):
        parts.append("⏱")
    if wf.auto.get(source) == event:
        parts.append("auto")
    if transition is not None and transition.spawn is not None:
        parts.append(f"⇒ {_child(wf) or 'child'}")
    return " ".join(parts)


def mermaid(wf: Workflow) -> str:
    """The lifecycle as a Mermaid state diagram (stable output: same definition, same text)."""
    lines = ["stateDiagram-v2", f"    %% {wf.name}: {wf.title}"]
    lines.append(f"    [*] --> {wf.initial}")
    for source, event, dest in wf.edges():
        lines.append(f"    {source} --> {dest}: {edge_label(wf, source, event)}")
    spawning = [r for r in wf.timers if r.spawn is not None]
    for rule in spawning:
        lines.append(f"    note right of {rule.state}: ⏱ {rule.kind} ⇒ {_child(wf) or 'child'}")
    for final in wf.finals:
        lines.append(f"    {final} --> [*]")
    return "\n".join(lines) + "\n"


def text(wf: Workflow) -> str:
    """States, transitions and timers as plain text."""
    out = [f"{wf.name} — {wf.title}", "", "states:"]
    for state in wf.states:
        marks = []
        if state == wf.initial:
            marks.append("initial")
        if state in wf.finals:
            marks.append("final")
        out.append(f"  {state}" + (f"  ({', '.join(marks)})" if marks else ""))
    out += ["", "transitions:"]
    for t in wf.transitions:
        extra = []
        if t.needs:
            extra.append("needs " + ", ".join(t.needs))
        if t.notices:
            extra.append("sends " + ", ".join(n.kind for n in t.notices))
        if t.spawn is not None:
            extra.append(f"opens {_child(wf) or 'child cases'}")
        if t.tell_parent:
            extra.append(f"tells the parent {t.tell_parent}")
        if t.event in wf.auto.values():
            extra.append("automatic")
        tail = f"  [{'; '.join(extra)}]" if extra else ""
        out.append(f"  {t.event}: {', '.join(t.source)} → {t.dest}{tail}")
    if wf.timers:
        out += ["", "timers:"]
        for rule in wf.timers:
            does = []
            if rule.event:
                does.append(f"fires {rule.event}")
            if rule.notices:
                does.append("sends " + ", ".join(n.kind for n in rule.notices))
            if rule.spawn is not None:
                does.append(f"opens {_child(wf) or 'child cases'}")
            out.append(f"  {rule.kind} (in {rule.state}): {'; '.join(does)}")
    return "\n".join(out) + "\n"


def graphviz_available() -> bool:
    """Is the optional ``graphviz`` package (not a dependency of theodoi) installed?"""
    return importlib.util.find_spec("graphviz") is not None


def graphviz_source(wf: Workflow) -> str:
    """DOT source through transitions' GraphMachine (needs the graphviz package)."""
    from transitions.extensions import GraphMachine

    specs: list[dict[str, Any]] = [
        {"trigger": t.event, "source": list(t.source), "dest": t.dest} for t in wf.transitions
    ]
    machine = GraphMachine(
        model=None,
        states=list(wf.states),
        transitions=specs,
        initial=wf.initial,
        auto_transitions=False,
        title=wf.title,
    )
    return str(machine.get_graph().source)
