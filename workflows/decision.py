"""The decision (quyết định) that sends a trip or approves an NGO project, and who
issued it: the one list of issuers.

Two bodies issue them: the provincial People's Committee (UBND tỉnh) and the
Department of Foreign Affairs (Sở Ngoại vụ), as the inspection's compliance report
counts them. There is no third value: a case without a decision is counted apart by
the report, not under an issuer one could choose.
"""

from __future__ import annotations

from workflows.definition import Term, Vocabulary

# fmt: off
ISSUER = Vocabulary(
    "issuer",
    vi="Cơ quan quyết định",
    en="Issuer",
    terms=(
        Term(
            "province", "UBND tỉnh", "Provincial People's Committee",
            aliases=(
                "UBND", "Uỷ ban nhân dân tỉnh", "Chủ tịch UBND tỉnh", "tỉnh",
                "provincial committee", "province committee",
            ),
            vi_formal="Ủy ban nhân dân tỉnh",
        ),
        Term(
            "department", "Sở Ngoại vụ", "Department of Foreign Affairs",
            aliases=("SNgV", "Sở", "Giám đốc Sở", "Giám đốc Sở Ngoại vụ", "DOFA"),
        ),
    ),
)
# fmt: on
