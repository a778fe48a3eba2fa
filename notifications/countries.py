"""Country names for ISO 3166 alpha-2 codes, as Vietnamese official documents write them.

pycountry's Vietnamese catalogue uses colloquial or dated names for some neighbours
("Căm Bốt", "Cộng hoà Nam Hàn"); the names used in administrative writing come first.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from functools import lru_cache

import pycountry

_VI = {
    "KH": "Campuchia",
    "LA": "Lào",
    "KR": "Hàn Quốc",
    "KP": "Triều Tiên",
    "JP": "Nhật Bản",
    "CN": "Trung Quốc",
    "TW": "Đài Loan (Trung Quốc)",
    "HK": "Hồng Kông (Trung Quốc)",
    "US": "Hoa Kỳ",
    "GB": "Vương quốc Anh",
    "RU": "Liên bang Nga",
    "DE": "Đức",
    "FR": "Pháp",
    "AU": "Ôxtrâylia",
    "TH": "Thái Lan",
    "SG": "Xinh-ga-po",
    "MY": "Ma-lai-xi-a",
    "ID": "In-đô-nê-xi-a",
    "PH": "Phi-líp-pin",
    "MM": "Mi-an-ma",
    "IN": "Ấn Độ",
    "VN": "Việt Nam",
    "NL": "Hà Lan",
    "IT": "I-ta-li-a",
    "CA": "Ca-na-đa",
    "NZ": "Niu Di-lân",
    "BE": "Bỉ",
    "CH": "Thụy Sĩ",
    "SE": "Thụy Điển",
    "CU": "Cu-ba",
}


@lru_cache(maxsize=4)
def _catalogue(language: str) -> gettext.NullTranslations:
    return gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )


def country_name(code: str, language: str = "vi") -> str:
    code = code.strip().upper()
    if language == "vi" and code in _VI:
        return _VI[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    name = getattr(country, "common_name", None) or country.name
    return _catalogue(language).gettext(country.name) if language != "en" else name


def country_names(codes: Iterable[str] | str | None, language: str = "vi") -> str:
    """``["KH", "LA"]`` or ``"KH,LA"`` → ``Campuchia, Lào``."""
    if not codes:
        return ""
    if isinstance(codes, str):
        codes = codes.split(",")
    return ", ".join(country_name(c, language) for c in codes if c.strip())
