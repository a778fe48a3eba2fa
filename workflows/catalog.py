"""The one list of the case types theodoi knows.

Each module named here defines ``WORKFLOW`` (a :class:`~workflows.definition.Workflow`
carrying its settings model, vocabularies and state tags). The engine's registry
loads this list, and the edge validates ``[workflows.<name>]`` against it when
theodoi starts. A module missing from the build (a case type left out of an
installation) is skipped; any other import error is raised.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from workflows.definition import Workflow, WorkflowSettings

MODULES: tuple[str, ...] = (
    "workflows.trip",
    "workflows.trip_passport",
    "workflows.ngo_project",
    "workflows.ngo_report",
    "workflows.agreement",
    "workflows.agreement_review",
)


def definitions(modules: Iterable[str] = MODULES) -> list[Workflow]:
    """The ``WORKFLOW`` of each module, in order."""
    return [importlib.import_module(name).WORKFLOW for name in modules]


def settings_models(modules: Iterable[str] = MODULES) -> dict[str, type[WorkflowSettings]]:
    """Case type name → its settings model: what ``load_config(workflows=…)`` takes."""
    return {wf.name: wf.settings for wf in definitions(modules)}
