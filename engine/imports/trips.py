"""The trips template: validation of its rows into :class:`TripRow` values (pure; the
writer stores them). Every problem of every row is collected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from engine.imports import parsing
from engine.imports.columns import TRIP_COLUMNS
from engine.imports.problems import Problem
from engine.imports.reading import Table
from engine.imports.units import RowReader
from kernel.text import decision_identity, fold, name_key
from workflows.trip_passport import PASSPORT


@dataclass(frozen=True)
class TripRow:
    row: int
    decision_number: str
    decision_date: date
    issuer: str  # province | department
    name: str
    name_key: str
    position: str | None
    unit_id: int
    category: str  # standing_committee | unit
    country_codes: tuple[str, ...]  # ISO alpha-2
    purpose: str  # official | private
    departure: date
    return_: date
    filed_on: date | None
    accepted: bool
    email: str | None
    passport: str | None = None  # official | diplomatic | ordinary; None: not given

    @property
    def decision_key(self) -> tuple[str, int]:
        """A decision is its number and the year of its date (numbers restart yearly)."""
        return self.decision_number, self.decision_date.year

    @property
    def identity(self) -> tuple[str, int, str]:
        return decision_identity(*self.decision_key, self.name)


class UnitIndex:
    """Finds a unit by its code (any case) or its name (any case or diacritics)."""

    def __init__(self, units: Iterable[tuple[int, str, str]]) -> None:
        self._by_code: dict[str, int] = {}
        self._by_name: dict[str, int] = {}
        for unit_id, code, name in units:
            self._by_code[code.strip().lower()] = unit_id
            self._by_name[fold(name)] = unit_id

    def find(self, value: object) -> int:
        raw = parsing.text(value)
        found = self._by_code.get(raw.lower())
        if found is None:
            found = self._by_name.get(fold(raw))
        if found is None:
            raise ValueError("unknown unit (no unit has this code or name; import units first)")
        return found


def parse_trips(table: Table, units: UnitIndex, today: date) -> tuple[list[TripRow], list[Problem]]:
    problems: list[Problem] = []
    reader = RowReader(table, TRIP_COLUMNS, problems)
    rows: list[TripRow] = []
    decisions: dict[tuple[str, int], tuple[int, date, str]] = {}
    identities: dict[tuple[str, int, str], int] = {}
    for number, values in table.rows:
        reader.start(number, values)
        before = len(problems)
        dnum = reader.get("decision_number", parsing.decision_number, required=True)
        ddate = reader.date("decision_date", required=True)
        issuer = reader.get("issuer", parsing.parse_issuer, required=True)
        name = reader.get("full_name", required=True)
        position = reader.get("position")
        unit_id = reader.get("unit", units.find, required=True)
        category = reader.get("category", parsing.parse_category, required=True)
        dests = reader.countries("destination", required=True)
        purpose = reader.get("purpose", parsing.parse_purpose) or "official"
        departure = reader.date("departure_date", required=True)
        return_ = reader.date("return_date", required=True)
        filed = reader.date("report_filed_date")
        accepted = reader.get("report_accepted", parsing.parse_yes_no) == "yes"
        email = reader.get("email", parsing.parse_email)
        passport = reader.get("passport", PASSPORT.parse)

        if ddate and ddate > today:
            reader.fail(
                "decision_date",
                reader.raw("decision_date"),
                f"decision date is in the future (today is {today:%d/%m/%Y})",
            )
        if departure and return_ and return_ < departure:
            reader.fail(
                "return_date",
                reader.raw("return_date"),
                f"return is before the departure ({departure:%d/%m/%Y})",
            )
        if filed and return_ and filed < return_:
            reader.fail(
                "report_filed_date",
                reader.raw("report_filed_date"),
                f"report filed before the return ({return_:%d/%m/%Y})",
            )
        if filed and filed > today:
            reader.fail(
                "report_filed_date",
                reader.raw("report_filed_date"),
                f"report date is in the future (today is {today:%d/%m/%Y})",
            )
        if accepted and not filed and reader.raw("report_filed_date") is None:
            reader.fail(
                "report_accepted",
                reader.raw("report_accepted"),
                "a report is accepted but has no filed date",
            )
        if dnum and ddate and issuer:
            key = (dnum, ddate.year)
            first = decisions.setdefault(key, (number, ddate, issuer))
            if first[1:] != (ddate, issuer):
                reader.fail(
                    "decision_date" if first[1] != ddate else "issuer",
                    reader.raw("decision_date" if first[1] != ddate else "issuer"),
                    f"decision {dnum} of {ddate.year} has another date or issuer in row {first[0]}",
                )
            if name:
                ident = decision_identity(*key, name)
                if ident in identities:
                    reader.fail(
                        "full_name", name, f"same person and decision as row {identities[ident]}"
                    )
                else:
                    identities[ident] = number
        if len(problems) == before:
            rows.append(
                TripRow(
                    number,
                    dnum,
                    ddate,
                    issuer,
                    name,
                    name_key(name),
                    position,
                    unit_id,
                    category,
                    dests,
                    purpose,
                    departure,
                    return_,
                    filed,
                    accepted,
                    email,
                    passport=passport,
                )
            )
    return rows, problems
