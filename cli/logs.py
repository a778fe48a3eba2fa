"""Log records as one JSON object per line (``--log-format json``), for a log collector.

Each object has ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
``worker`` and the ``organisation``, and, where known, ``case_id`` (a record's
``extra={"case_id": …}``, else the ``case N`` a runner line names) and ``timer``
(``extra={"timer": …}``), plus ``exception`` with the traceback.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_CASE = re.compile(r"\bcase (\d+)\b")
FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def __init__(self, worker: str, organisation: str = "") -> None:
        super().__init__()
        self.worker, self.organisation = worker, organisation

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            "worker": self.worker,
        }
        if self.organisation:
            out["organisation"] = self.organisation
        case_id = getattr(record, "case_id", None)
        if case_id is None and (found := _CASE.search(message)):
            case_id = int(found.group(1))
        if case_id is not None:
            out["case_id"] = case_id
        timer = getattr(record, "timer", None)
        if timer is not None:
            out["timer"] = timer
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)
