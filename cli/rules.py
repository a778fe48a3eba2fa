"""``theodoi rules apply WORKFLOW --from DATE``: recompute open obligations under the
rule version in force on DATE.

An obligation keeps the rule version in force when it opened (kept in the case's data
with each deadline's basis, ``kernel.deadlines``). Applying a newer version to the
obligations already open is an admin's explicit choice: this command, which writes one
history line per case it changes (what the rule and the deadline were, and are now).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

import storage.cases
from cli.main import ConfigOpt, cli_errors, open_app, out
from kernel import deadlines
from kernel.errors import InvalidInput
from kernel.settings import DeadlineRule

rules_app = typer.Typer(help="Deadline rules: apply a newer version to open obligations.")


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")


@rules_app.command("apply")
@cli_errors
def apply(
    workflow: str,
    since: Annotated[str, typer.Option("--from", help="The rule version in force on this day.")],
    config: ConfigOpt = None,
) -> None:
    """Recompute the open obligations of WORKFLOW under the rules in force on --from."""
    try:
        day = date.fromisoformat(since)
    except ValueError:
        raise InvalidInput("from", f"'{since}' is not a date (YYYY-MM-DD)") from None
    with open_app(config) as application, application.db.session() as session:
        if workflow not in application.registry:
            raise InvalidInput("workflow", f"unknown case type '{workflow}'")
        engine = application.engine
        engine.reload_calendar(session)
        settings = engine.rules(workflow).settings
        wf = application.registry[workflow].workflow
        changed = 0
        for case in storage.cases.find_cases(session, workflow=workflow, with_deadline=True):
            if not {"due", "late"} & set(wf.tags.get(case.state, ())):
                continue
            bases = deadlines.kept(case)
            for name, record in bases.items():
                rule = record.get("rule") or {}
                key = rule.get("key")
                configured = getattr(settings, key, None) if key else None
                if not isinstance(configured, DeadlineRule):
                    continue
                new = configured.in_force(day).record(key)
                if new == rule:
                    continue
                fresh = {**record, "rule": new}
                if "rules" in record:
                    fresh["rules"] = {**record["rules"], key: new}
                data = {**(case.data or {}), deadlines.DEADLINES: {**bases, name: fresh}}
                changes: dict = {"data": data}
                result = deadlines.explain_basis(engine.calendar, name, fresh).result
                if name == "report":
                    changes["deadline"] = result
                shown = day.strftime("%d/%m/%Y")
                reason = (
                    f"áp dụng quy định có hiệu lực ngày {shown}: {new['due']} "
                    f"({new['legal_basis'] or 'chưa ghi căn cứ'}), thay cho {rule.get('due')} "
                    f"({rule.get('legal_basis') or 'chưa ghi căn cứ'}) / the rule in force on "
                    f"{shown} applied"
                )
                old = case.deadline
                case = engine.update_fields(
                    session, case.id, changes, actor="cli:rules apply", reason=reason
                )
                bases = deadlines.kept(case)
                changed += 1
                out.print(f"case {case.id}: {name} {old} → {case.deadline}  [{key}: {new['due']}]")
        out.print(f"{changed} case(s) recomputed under the rules in force on {day:%d/%m/%Y}")
