"""Demo data shaped like the inspection report: both issuers, both categories, every state.

Dates are relative to the clock's today, so the demo always shows live deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import storage.cases
import storage.decisions
import storage.units
from engine.app import App
from engine.runtime import Engine
from kernel.clock import ManualClock, from_local, local_date
from kernel.text import name_key
from storage.models import Unit

UNITS = (
    ("SYT", "Sở Y tế", "syt@demo.tayninh.local", "giamdoc.syt@demo.tayninh.local"),
    (
        "SGDDT",
        "Sở Giáo dục và Đào tạo",
        "sgddt@demo.tayninh.local",
        "giamdoc.sgddt@demo.tayninh.local",
    ),
    (
        "UBND-TPTN",
        "UBND thành phố Tây Ninh",
        "ubnd.tptn@demo.tayninh.local",
        "chutich.tptn@demo.tayninh.local",
    ),
    ("BDBP", "Bộ Chỉ huy Bộ đội Biên phòng tỉnh", "bdbp@demo.tayninh.local", None),
    ("VPTU", "Văn phòng Tỉnh ủy", "vptu@demo.tayninh.local", "chanhvp.tu@demo.tayninh.local"),
)

# (name, position, unit, category, destination, purpose, days from today to the
#  return date, trip length in days, then: None | "file" | "file+accept" | "cancel")
TRAVELLERS = (
    (
        "Nguyễn Văn Hùng",
        "Phó Chủ tịch UBND tỉnh",
        "VPTU",
        "standing_committee",
        "KH",
        "official",
        -40,
        4,
        "file+accept",
    ),
    ("Trần Thị Mai", "Phó Giám đốc", "SYT", "unit", "KR", "official", -70, 6, None),
    ("Lê Văn Tâm", "Trưởng phòng", "SYT", "unit", "KR", "official", -70, 6, "file"),
    ("Phạm Minh Đức", "Chuyên viên", "SGDDT", "unit", "JP", "official", -25, 5, None),
    ("Võ Thị Lan", "Hiệu trưởng", "SGDDT", "unit", "SG", "private", -6, 4, None),
    (
        "Huỳnh Tấn Phát",
        "Chủ tịch UBND thành phố",
        "UBND-TPTN",
        "unit",
        "KH",
        "official",
        -3,
        3,
        None,
    ),
    ("Đặng Quốc Bảo", "Đồn trưởng", "BDBP", "unit", "KH,LA", "official", -19, 2, None),
    ("Bùi Thị Hoa", "Phó Chánh Văn phòng", "VPTU", "unit", "CN", "official", 3, 5, None),
    ("Ngô Thanh Sơn", "Phó Giám đốc", "SGDDT", "unit", "TH", "official", 14, 5, None),
    ("Lý Hoàng Nam", "Chuyên viên", "UBND-TPTN", "unit", "KH", "official", 20, 3, "cancel"),
    ("Tô Ngọc Ánh", "Kế toán", "SYT", "unit", "KR", "private", -45, 7, "file"),
    # These two move within the first minute of `make run`: one comes home at the next
    # midnight, the other's report falls due about then.
    ("Trương Văn Lợi", "Phó Trưởng phòng", "BDBP", "unit", "KH", "official", 1, 3, None),
    ("Mai Thị Thu", "Chuyên viên", "UBND-TPTN", "unit", "LA", "official", -14, 3, None),
)


def load_demo(app: App) -> Iterator[str]:
    """Create the demo units and trips; refuses to touch a database that has cases.

    History is written as it would have happened: a manual clock walks each case
    through its past, then the real engine catches every case up to now.
    """
    tz = app.config.organisation.tz
    now = app.clock.now()
    today = local_date(now, tz)
    past = ManualClock(now)
    engine = Engine(app.db, app.config, app.registry, past, app.worker_id)
    with app.db.session() as session:
        if storage.cases.find_cases(session, limit=1):
            yield "the database already has cases: demo data not loaded"
            return
        for code, name, email, head in UNITS:
            if storage.units.unit_by_code(session, code) is None:
                session.add(Unit(code=code, name=name, email=email, head_email=head))
        session.flush()
        units = {u.code: u for u in storage.units.units_by_id(session).values()}
        for number, row in enumerate(TRAVELLERS, start=1):
            name, position, unit, category, dest, purpose, back, length, then = row
            returned = today + timedelta(days=back)
            departure = returned - timedelta(days=length)
            decided = min(departure - timedelta(days=10), today - timedelta(days=1))
            issuer = "province" if category == "standing_committee" else "department"
            suffix = "QĐ-UBND" if issuer == "province" else "QĐ-SNgV"
            decision = storage.decisions.get_or_create_decision(
                session, f"{number:02d}/{suffix}", decided, issuer
            )
            fields = {
                "decision_id": decision.id,
                "unit_id": units[unit].id,
                "name": name,
                "name_key": name_key(name),
                "position": position,
                "category": category,
                "country_codes": dest,
                "purpose": purpose,
                "planned_start": departure,
                "planned_end": returned,
            }
            past.set(_at(decided, tz))
            case = engine.create_case(session, "trip", fields, actor="demo", notify=False)
            if then == "cancel":
                engine.fire(session, case.id, "cancel", actor="demo", reason="Đoàn hoãn chuyến đi")
            elif then:
                filed = returned + timedelta(days=12)
                past.set(_at(filed, tz, 9))
                engine.fire(session, case.id, "file", actor="demo", params={"on": filed})
                if then == "file+accept":
                    past.set(_at(filed + timedelta(days=2), tz, 10))
                    engine.fire(session, case.id, "accept", actor="demo")
            yield f"case {case.id}: {name} ({unit}) returns {returned:%d/%m/%Y}"
    app.engine.sweep()  # now the real clock: every case lands where it is today
    with app.db.session(write=False) as session:
        counts: dict[str, int] = {}
        for case in storage.cases.find_cases(session):
            counts[case.state] = counts.get(case.state, 0) + 1
    yield "demo cases by state: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _at(day: date, tz: ZoneInfo, hour: int = 8) -> datetime:
    return from_local(day, time(hour, 0), tz)
