"""The configuration: one schema, validated whole when theodoi starts.

The kernel's sections and each case type's ``[workflows.<name>]`` model hold the
defaults, and ``config.toml`` says the same; an unknown section or key, a malformed
duration or ladder is refused in one line naming the file or the environment
variable it came from and the key. No database here; the last tests run the real
CLI as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from engine.registry import Registry
from kernel.errors import ConfigError
from kernel.settings import DEFAULTS_FILE, Config, load_config
from workflows import catalog
from workflows.agreement import AgreementSettings
from workflows.agreement_review import AgreementReviewSettings
from workflows.ngo_project import NgoProjectSettings, ReportPeriod
from workflows.ngo_report import NgoReportSettings
from workflows.trip import TripSettings

MODELS = catalog.settings_models()
SECRETS = {("smtp", "password"), ("web", "secret_key")}  # only from the environment


def shipped() -> dict:
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def load(env: dict[str, str] | None = None, path: Path | None = None) -> Config:
    return load_config(path, env or {}, workflows=MODELS)


def refusal(env: dict[str, str] | None = None, path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(env, path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- config.toml and the models agree -----------------------------------------------


def _sections() -> list[tuple[str, type[BaseModel], dict]]:
    toml = shipped()
    kernel = [(name, Config.model_fields[name].annotation, toml[name]) for name in toml]
    kernel = [item for item in kernel if item[0] != "workflows"]
    flows = [(f"workflows.{n}", MODELS[n], toml["workflows"][n]) for n in toml["workflows"]]
    return kernel + flows


def test_config_toml_has_every_section_and_case_type():
    toml = shipped()
    assert set(toml) == set(Config.model_fields)
    assert set(toml["workflows"]) == set(MODELS) == set(Registry.load().names())


@pytest.mark.parametrize(("section", "model", "values"), _sections(), ids=lambda v: str(v)[:30])
def test_config_toml_says_what_the_model_defaults_to(section, model, values):
    top = section.split(".")[0]
    keys = set(model.model_fields) - {key for sec, key in SECRETS if sec == top}
    assert set(values) == keys, f"[{section}] keys differ from {model.__name__}"
    as_written = model.model_validate(values)
    for key in keys:
        assert getattr(as_written, key) == getattr(model(), key), f"[{section}] {key}"


def test_defaults_without_the_file_are_the_shipped_configuration(monkeypatch, tmp_path):
    shipped_config = load()
    monkeypatch.setattr("kernel.settings.DEFAULTS_FILE", tmp_path / "absent.toml")
    bare = load_config(None, {})
    assert bare.workflows == {}
    assert bare.model_dump(exclude={"workflows"}) == shipped_config.model_dump(exclude={"workflows"})
    registry = Registry.load()
    for name, model in MODELS.items():
        assert registry.settings(name, bare) == registry.settings(name, shipped_config) == model()


# -- the models --------------------------------------------------------------------


def test_settings_models_are_frozen_and_refuse_unknown_keys():
    settings = TripSettings()
    with pytest.raises(ValidationError):
        settings.reminders = ()  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        TripSettings(reminder=["-1 working days"])
    with pytest.raises(ValidationError, match="extra"):
        ReportPeriod(name="Q1", period_end="03-31", due="15 days", deadline="x")


def test_each_obligation_has_its_own_defaults():
    assert NgoReportSettings().reminders == ("-5 working days", "-1 working days")
    assert AgreementReviewSettings().reminders == ("-10 working days", "-1 working days")
    assert MODELS["ngo_report"] is NgoReportSettings
    assert MODELS["agreement_review"] is AgreementReviewSettings


@pytest.mark.parametrize(
    ("model", "values", "problem"),
    [
        (TripSettings, {"official_report_due": "15 wrking days"}, "is not a duration"),
        (TripSettings, {"reminders": ["-5 working days", "soon"]}, "'soon' is not a duration"),
        (TripSettings, {"reminders": ["5 working days"]}, "must count back from the deadline"),
        (TripSettings, {"escalation": ["-5 working days"]}, "must count on from the deadline"),
        (TripSettings, {"escalation": ["0 days"]}, "must count on from the deadline"),
        (TripSettings, {"escalation": "5 working days"}, "valid tuple"),
        (NgoReportSettings, {"reject_new_deadline": ""}, "is not a duration"),
        (AgreementSettings, {"review_every": "-3 years"}, "must be a positive duration"),
        (AgreementSettings, {"expiry_reminders": ["-1 fortnight"]}, "is not a duration"),
        (NgoProjectSettings, {"final_report_due": "a month"}, "is not a duration"),
        (
            NgoProjectSettings,
            {"periods": [{"name": "Q1", "period_end": "03-32", "due": "15 days"}]},
            "'03-32' is not a month-day",
        ),
        (
            NgoProjectSettings,
            {"periods": [{"name": "Q1", "period_end": "03-31", "due": "15 dayz"}]},
            "'15 dayz' is not a duration",
        ),
        (NgoProjectSettings, {"periods": [{"name": "Q1", "due": "15 days"}]}, "period_end"),
    ],
)
def test_a_bad_value_is_refused_by_its_model(model, values, problem):
    with pytest.raises(ValidationError, match=problem):
        model.model_validate(values)


def test_a_good_value_is_kept_as_written():
    settings = TripSettings(escalation=["3 working days"], private_report_due="2 weeks")
    assert settings.escalation == ("3 working days",)
    assert settings.private_report_due.in_force().due == "2 weeks"  # the simple form
    project = NgoProjectSettings(periods=[{"name": "Q1", "period_end": "03-31", "due": "1 month"}])
    (spec,) = [period.spec() for period in project.periods]
    assert (spec.end, spec.due, spec.label, spec.label_en) == ((3, 31), "1 month", *(2 * ["{name} {year}"]))


# -- load_config: refusals name the source and the key -------------------------------


def test_an_unknown_key_from_the_environment_is_refused_by_name():
    assert refusal({"THEODOI_SMTP__PORTT": "25"}) == (
        "THEODOI_SMTP__PORTT: unknown key 'portt' in [smtp]"
    )


def test_an_unknown_key_in_a_file_names_the_file(tmp_path):
    path = write(tmp_path, "[web]\nhost = '0.0.0.0'\nprot = 8080\n")
    assert refusal(path=path) == f"{path}: unknown key 'prot' in [web]"


@pytest.mark.parametrize(
    ("env", "text", "expected"),
    [
        ({"THEODOI_SMPT__PORT": "25"}, "", "THEODOI_SMPT__PORT: unknown section [smpt]"),
        ({}, "[mail]\nhost = 'x'\n", "{path}: unknown section [mail]"),
        (
            {"THEODOI_WORKFLOWS__TRIPS__REMINDERS": '["-1 days"]'},
            "",
            "THEODOI_WORKFLOWS__TRIPS__REMINDERS: unknown section [workflows.trips]",
        ),
        ({}, "[workflows.visa]\ndue = '5 days'\n", "{path}: unknown section [workflows.visa]"),
    ],
)
def test_an_unknown_section_is_refused_by_name(tmp_path, env, text, expected):
    path = write(tmp_path, text) if text else None
    assert refusal(env, path).startswith(expected.format(path=path))


def test_an_unknown_case_type_section_lists_the_known_ones():
    message = refusal({"THEODOI_WORKFLOWS__VISA__DUE": "5 days"})
    assert message.endswith(f"(case types: {', '.join(sorted(MODELS))})")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "THEODOI_WORKFLOWS__NGO_REPORT__REJECT_NEW_DEADLINE",
            "5 wrking days",
            "[workflows.ngo_report] reject_new_deadline: '5 wrking days' is not a duration",
        ),
        (
            "THEODOI_WORKFLOWS__TRIP__OFFICIAL_REPORT_DUE",
            "15 dyas",
            "[workflows.trip] official_report_due: '15 dyas' is not a duration",
        ),
        (
            "THEODOI_WORKFLOWS__AGREEMENT_REVIEW__ESCALATION",
            '["10 working days", "thirty days"]',
            "[workflows.agreement_review] escalation[1]: 'thirty days' is not a duration",
        ),
        (
            "THEODOI_WORKFLOWS__TRIP__ESCALATION",
            "15 working days",
            "[workflows.trip] escalation: Input should be a valid tuple",
        ),
        (
            "THEODOI_WORKFLOWS__TRIP__REMINDERS",
            '["5 working days"]',
            "[workflows.trip] reminders: '5 working days' must count back from the deadline",
        ),
        (
            "THEODOI_WORKFLOWS__AGREEMENT__REVIEW_EVERY",
            "3 yaers",
            "[workflows.agreement] review_every: '3 yaers' is not a duration",
        ),
        (
            "THEODOI_WORKFLOWS__NGO_PROJECT__PERIODS",
            '[{"name": "Q1", "period_end": "03-31", "due": "15 dys"}]',
            "[workflows.ngo_project] periods[0].due: '15 dys' is not a duration",
        ),
        ("THEODOI_SMTP__PORT", "twenty-five", "[smtp] port: Input should be a valid integer"),
        (
            "THEODOI_NOTIFICATIONS__APPROVAL",
            '{"escalation": "manual"}',
            "[notifications] approval.escalation: Input should be 'auto' or 'coordinator'",
        ),
    ],
)
def test_a_bad_value_names_the_variable_and_the_key(variable, value, expected):
    assert refusal({variable: value}).startswith(f"{variable}: {expected}")


def test_a_bad_duration_in_an_override_file_names_the_file(tmp_path):
    path = write(tmp_path, "[workflows.agreement]\nexpiry_lead = '6 mnths'\n")
    assert refusal(path=path).startswith(
        f"{path}: [workflows.agreement] expiry_lead: '6 mnths' is not a duration"
    )


def test_the_environment_is_named_when_it_overrides_the_file(tmp_path):
    path = write(tmp_path, "[workflows.trip]\nprivate_report_due = '7 working days'\n")
    variable = "THEODOI_WORKFLOWS__TRIP__PRIVATE_REPORT_DUE"
    assert refusal({variable: "7 wd"}, path).startswith(f"{variable}: [workflows.trip]")


def test_a_key_that_is_not_a_section_is_refused():
    assert refusal({"THEODOI_SMTP__PORT__NUMBER": "25"}) == (
        "THEODOI_SMTP__PORT__NUMBER: [smtp] port is a value, not a section"
    )


def test_several_problems_are_one_line():
    message = refusal({"THEODOI_SMTP__PORTT": "25", "THEODOI_WEB__PROT": "1"})
    assert message.endswith("(and 1 more)")


def test_a_secret_in_a_file_names_the_file(tmp_path):
    path = write(tmp_path, "[web]\nsecret_key = 'abc'\n")
    assert refusal(path=path) == (
        f"{path}: [web] secret_key must not be written in a file; "
        "set THEODOI_WEB__SECRET_KEY in the environment"
    )


def test_good_overrides_load():
    config = load(
        {
            "THEODOI_WORKFLOWS__TRIP__ESCALATION": '["3 working days"]',
            "THEODOI_SMTP__PORT": "2525",
            "THEODOI_SMTP__PASSWORD": "from-the-environment",
        }
    )
    assert config.workflows["trip"]["escalation"] == ["3 working days"]
    assert config.smtp.port == 2525 and config.smtp.password == "from-the-environment"
    assert Registry.load().settings("trip", config).escalation == ("3 working days",)


def test_without_the_case_types_workflow_sections_are_checked_by_the_registry():
    raw = load_config(None, {"THEODOI_WORKFLOWS__TRIP__ESCALATION": '["x"]'})
    with pytest.raises(ConfigError, match=r"^configuration: \[workflows.trip\] escalation\[0\]"):
        Registry.load().settings("trip", raw)


def test_the_registry_gives_each_case_type_its_typed_settings():
    config = load({"THEODOI_WORKFLOWS__NGO_REPORT__REJECT_NEW_DEADLINE": "3 working days"})
    registry = Registry.load()
    for name in registry.names():
        settings = registry.settings(name, config)
        assert type(settings) is registry[name].workflow.settings
    assert registry.settings("ngo_report", config).reject_new_deadline == "3 working days"
    assert registry.settings("agreement_review", config).reject_new_deadline == "10 working days"


# -- acceptance: the real CLI -------------------------------------------------------


def theodoi(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THEODOI_")}
    db = tmp_path / "theodoi.db"
    full = {**clean, "THEODOI_STORAGE__URL": f"sqlite:///{db}", **env}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
        cwd=tmp_path,
    )


def assert_refused(proc: subprocess.CompletedProcess, tmp_path: Path, *names: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("configuration error: "), lines
    for name in names:
        assert name in lines[0], lines
    assert not (tmp_path / "theodoi.db").exists()  # nothing was written
    return lines[0]


@pytest.mark.slow
def test_cli_refuses_an_unknown_smtp_key(tmp_path):
    proc = theodoi(tmp_path, "init", env={"THEODOI_SMTP__PORTT": "25"})
    line = assert_refused(proc, tmp_path)
    assert line == "configuration error: THEODOI_SMTP__PORTT: unknown key 'portt' in [smtp]"


BAD_DURATIONS = [
    ("trip", "reject_new_deadline", "env"),
    ("trip_passport", "due", "file"),
    ("ngo_project", "final_report_due", "file"),
    ("ngo_report", "reject_new_deadline", "env"),
    ("agreement", "review_due", "file"),
    ("agreement_review", "reminders", "env"),
]


def test_the_cli_cases_cover_every_workflow_section():
    assert {name for name, _key, _how in BAD_DURATIONS} == set(MODELS)


@pytest.mark.slow
@pytest.mark.parametrize(("workflow", "key", "how"), BAD_DURATIONS)
def test_cli_refuses_a_misspelt_duration_in_any_workflow_section(tmp_path, workflow, key, how):
    ladder = isinstance(getattr(MODELS[workflow](), key), tuple)
    value = '["-5 wrking days"]' if ladder else '"5 wrking days"'
    if how == "env":
        source = f"THEODOI_WORKFLOWS__{workflow.upper()}__{key.upper()}"
        env = {source: value.strip('"')}
    else:
        path = tmp_path / "site.toml"
        path.write_text(f"[workflows.{workflow}]\n{key} = {value}\n", encoding="utf-8")
        source, env = str(path), {"THEODOI_CONFIG": str(path)}
    proc = theodoi(tmp_path, "init", env=env)
    assert_refused(proc, tmp_path, source, f"[workflows.{workflow}] {key}", "wrking days")
