"""Length limits on text, checked before anything reaches the database.

Every text column has a ``max_length`` in storage/models.py; :func:`check` compares the
values about to be written with those limits and refuses the first that is too long
with :class:`InvalidInput` naming the field (Vietnamese first, then English), so
SQLite (which would store anything) and PostgreSQL (which would fail with a driver
error) behave alike: a form error on the web, 422 on the API, exit 2 on the CLI.
``TEXT_MAX`` bounds free text kept in JSON (notes, report sections, reasons).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from kernel.errors import InvalidInput
from storage.models import Case, Decision, Unit, User

TEXT_MAX = 10_000  # a note, a reason, a report section
LABELS = {
    "name": "Họ và tên / tên hồ sơ",
    "name_key": "Họ và tên / tên hồ sơ",
    "position": "Chức vụ",
    "email": "E-mail",
    "head_email": "E-mail thủ trưởng",
    "country_codes": "Nước đến",
    "category": "Diện quản lý",
    "purpose": "Mục đích",
    "number": "Số quyết định",
    "decision": "Số quyết định",
    "issuer": "Cơ quan ban hành",
    "code": "Mã đơn vị",
    "unit": "Đơn vị",
    "language": "Ngôn ngữ",
    "note": "Ghi chú",
    "reason": "Lý do",
}


@cache
def max_lengths(model: type) -> dict[str, int]:
    """Each text field of ``model`` and its ``max_length``."""
    limits = {}
    for name, info in model.model_fields.items():
        for item in info.metadata:
            limit = getattr(item, "max_length", None)
            if isinstance(limit, int):
                limits[name] = limit
    return limits


def too_long(field: str, length: int, limit: int, where: str = "") -> InvalidInput:
    label = LABELS.get(field, field)
    prefix = f"{where}: " if where else ""
    return InvalidInput(
        f"{prefix}{field}",
        f"«{label}» dài {length} ký tự, tối đa {limit} ký tự "
        f"(too long: {length} characters, at most {limit})",
    )


def check(model: type, values: Mapping[str, Any], where: str = "") -> None:
    """Refuse the first text value longer than its column allows."""
    limits = max_lengths(model)
    for field, value in values.items():
        limit = limits.get(field)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise too_long(field, len(value), limit, where)


def check_text(field: str, value: str | None, limit: int = TEXT_MAX, where: str = "") -> None:
    if value is not None and len(value) > limit:
        raise too_long(field, len(value), limit, where)


def check_case(values: Mapping[str, Any], where: str = "") -> None:
    check(Case, values, where)


def check_decision(number: str, issuer: str | None = None, where: str = "") -> None:
    check(Decision, {"number": number, "issuer": issuer}, where)


def check_unit(values: Mapping[str, Any], where: str = "") -> None:
    check(Unit, values, where)


def check_user(values: Mapping[str, Any], where: str = "") -> None:
    check(User, values, where)
