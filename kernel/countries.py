"""The one country parser and the names countries are shown by.

A person (the CLI, a web form, a spreadsheet cell) writes countries as ISO 3166 codes
(``KH``, ``KOR``), Vietnamese names with or without diacritics (``Lào``, ``Nhật
Bản``, ``nhat ban``) or English names (``Japan``, ``Korea, Republic of``), separated
by ``,`` or ``;``. :func:`parse_countries` turns them into ISO alpha-2 codes, or
raises :class:`~kernel.errors.InvalidInput` naming the field and every unknown value.
:func:`country_names` shows codes as the names Vietnamese official documents use.

Built on pycountry (codes, English names, its Vietnamese catalogue) plus the small
table below: pycountry's Vietnamese catalogue uses colloquial or dated names for some
neighbours ("Căm Bốt", "Cộng hoà Nam Hàn"); the administrative names come first.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterable
from functools import lru_cache

import pycountry

from kernel.errors import InvalidInput
from kernel.text import fold

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


# Vietnamese names (folded) of the countries a provincial office deals with most, and a
# few English short forms ISO does not list.
# fmt: off
_COUNTRY_ALIASES = {
    "campuchia": "KH", "cam pu chia": "KH", "cambodia": "KH", "kampuchea": "KH",
    "lao": "LA", "ha lao": "LA", "thai lan": "TH", "trung quoc": "CN", "china": "CN",
    "han quoc": "KR", "korea": "KR", "dai han": "KR", "trieu tien": "KP",
    "nhat ban": "JP", "nhat": "JP", "singapore": "SG", "xin ga po": "SG",
    "malaysia": "MY", "ma lai xi a": "MY", "indonesia": "ID", "in do ne xi a": "ID",
    "philippines": "PH", "phi lip pin": "PH", "myanmar": "MM", "mi an ma": "MM",
    "brunei": "BN", "dong timo": "TL", "timor leste": "TL", "an do": "IN",
    "dai loan": "TW", "hong kong": "HK", "hong kong trung quoc": "HK", "ma cao": "MO",
    "hoa ky": "US", "my": "US", "usa": "US", "us": "US", "canada": "CA", "ca na da": "CA",
    "phap": "FR", "duc": "DE", "anh": "GB", "uk": "GB", "vuong quoc anh": "GB",
    "great britain": "GB", "y": "IT", "tay ban nha": "ES", "bo dao nha": "PT",
    "ha lan": "NL", "bi": "BE", "thuy si": "CH", "thuy dien": "SE", "na uy": "NO",
    "dan mach": "DK", "phan lan": "FI", "ao": "AT", "ba lan": "PL", "sec": "CZ",
    "sec hia": "CZ", "hung ga ri": "HU", "hungary": "HU", "nga": "RU", "russia": "RU",
    "lien bang nga": "RU", "ukraina": "UA", "belarus": "BY", "bun ga ri": "BG",
    "ru ma ni": "RO", "hy lap": "GR", "tho nhi ky": "TR", "israel": "IL",
    "a rap xe ut": "SA", "uc": "AU", "o xtray li a": "AU", "niu di lan": "NZ",
    "new zealand": "NZ", "cu ba": "CU", "brazil": "BR", "bra xin": "BR",
    "ai cap": "EG", "nam phi": "ZA", "viet nam": "VN", "laos": "LA",
    "south korea": "KR", "north korea": "KP", "iran": "IR", "syria": "SY",
    "venezuela": "VE", "bolivia": "BO", "tanzania": "TZ", "moldova": "MD",
}
# fmt: on


@lru_cache(maxsize=4)
def _catalogue(language: str) -> gettext.NullTranslations:
    return gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )


def country_name(code: str, language: str = "vi") -> str:
    """``"LA"`` → ``"Lào"`` (``"Laos"`` in English); an unknown code as it is."""
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


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(ISO alpha-2/alpha-3 code → alpha-2, folded name → alpha-2)."""
    codes: dict[str, str] = {}
    names: dict[str, str] = {}
    for country in pycountry.countries:
        codes[country.alpha_2] = codes[country.alpha_3] = country.alpha_2
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name:
                names.setdefault(fold(name), country.alpha_2)
    names.update(_COUNTRY_ALIASES)
    # and every name our own letters and e-mails print (Xinh-ga-po, Ôxtrâylia, …)
    for code in list(codes.values()):
        names.setdefault(fold(country_name(code, "vi")), code)
    return codes, names


def country_code(part: str) -> str | None:
    """One country, by ISO code or name → alpha-2, or None.

    Codes written in capitals win (``MY`` is Malaysia); otherwise names win (``Mỹ``
    and ``my`` are the United States, ``Áo`` is Austria, not Angola's ``AO``)."""
    codes, names = _tables()
    part = " ".join(str(part).split())
    if part.isascii() and part.isalpha() and part.isupper() and part in codes:
        return codes[part]
    found = names.get(fold(part))
    if found is None and part.isascii() and part.isalpha():
        found = codes.get(part.upper())
    return found


_SPLIT = re.compile(r"[;,/\n]|\s+-\s+")
HINT = "ghi mã ISO (LA, JP) hoặc tên nước (Lào, Nhật Bản, Japan), cách nhau bởi dấu phẩy"


def parse_countries(value: object, field: str) -> tuple[str, ...]:
    """Countries separated by ``,`` or ``;`` → ISO alpha-2 codes, in order, without
    repeats; InvalidInput naming ``field`` and the unknown values. A name with a comma
    (``Korea, Republic of``) is tried whole first; ISO codes may also be separated by
    spaces (``KH LA``)."""
    raw = " ".join(str(value or "").split())
    if not raw:
        raise InvalidInput(field, f"chưa nhập quốc gia (bắt buộc); {HINT}")
    whole = country_code(raw)
    if whole:
        return (whole,)
    parts = [p.strip() for p in _SPLIT.split(raw) if p.strip()]
    found: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(parts):
        pair = f"{parts[i]}, {parts[i + 1]}" if i + 1 < len(parts) else ""
        code = country_code(pair) if pair else None
        i += 2 if code else 1
        part = parts[i - 1]
        codes = [code] if code else [country_code(part)]
        if codes == [None]:
            codes = _spaced_codes(part)
        if not codes:
            unknown.append(part)
        found.extend(c for c in codes if c and c not in found)
    if unknown:
        shown = ", ".join(f"'{u}'" for u in unknown)
        raise InvalidInput(field, f"không rõ quốc gia {shown}; {HINT}")
    if not found:
        raise InvalidInput(field, f"chưa nhập quốc gia (bắt buộc); {HINT}")
    return tuple(found)


def _spaced_codes(part: str) -> list[str]:
    """``"KH LA"`` → ["KH", "LA"] when every word is an ISO code, else []."""
    codes, _ = _tables()
    words = part.split()
    if len(words) < 2 or not all(w.isascii() and w.upper() in codes for w in words):
        return []
    return [codes[w.upper()] for w in words]
