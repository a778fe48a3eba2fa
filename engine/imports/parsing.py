"""Cell values → typed values. Each parser returns the value or raises ValueError whose
message says what is wrong (in words a coordinator understands)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache

import pycountry
from openpyxl.utils.datetime import from_excel

from engine.imports.text import fold
from notifications.countries import country_name

_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
# Excel's day numbers for 1954-01-01 .. 2173-10-14: anything else is not a date
_SERIAL_RANGE = (20000, 100000)


def text(value: object) -> str:
    """A cell as trimmed text with single spaces (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(unicodedata.normalize("NFC", str(value)).split())


_AROUND_MARKS = re.compile(r"\s*([/\-])\s*")


def decision_number(value: object) -> str:
    """``"09 / QĐ-SNgV"`` → ``"09/QĐ-SNgV"``: spaces around ``/`` and ``-`` dropped."""
    return _AROUND_MARKS.sub(r"\1", text(value))


def parse_date(value: object) -> date:
    """``dd/mm/yyyy`` (also with ``-`` or ``.``), ``yyyy-mm-dd``, a real Excel date, or
    an Excel day number."""
    if isinstance(value, datetime):
        return value.date()  # a date typed with a time: the day is what counts
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            return from_excel(value).date()
        raise ValueError("not a date (a number that is not an Excel date)")
    raw = text(value)
    for pattern, order in ((_DMY, "dmy"), (_YMD, "ymd")):
        match = pattern.match(raw)
        if match:
            parts = [int(p) for p in match.groups()]
            d, m, y = parts if order == "dmy" else parts[::-1]
            try:
                return date(y, m, d)
            except ValueError:
                raise ValueError(f"no such day {d:02d}/{m:02d}/{y}") from None
    raise ValueError("not a date; write dd/mm/yyyy (23/11/2021) or yyyy-mm-dd")


def _choice(synonyms: dict[str, tuple[str, ...]], what: str, allowed: str):
    table = {fold(s): key for key, spellings in synonyms.items() for s in (key, *spellings)}

    def parse(value: object) -> str:
        key = table.get(fold(text(value)))
        if key is None:
            raise ValueError(f"unknown {what}; use {allowed}")
        return key

    return parse


# fmt: off
parse_issuer = _choice(
    {
        "province": (
            "UBND tỉnh", "UBND", "Ủy ban nhân dân tỉnh", "Uỷ ban nhân dân tỉnh",
            "Chủ tịch UBND tỉnh", "tỉnh", "provincial people's committee",
        ),
        "department": (
            "Sở Ngoại vụ", "SNgV", "Sở", "Giám đốc Sở", "Giám đốc Sở Ngoại vụ", "department",
        ),
    },
    "issuer",
    "province (UBND tỉnh) or department (Sở Ngoại vụ)",
)

parse_category = _choice(
    {
        "standing_committee": (
            "BTV Tỉnh ủy", "BTV Tỉnh uỷ", "BTVTU", "Ban Thường vụ Tỉnh ủy",
            "Ban Thường vụ Tỉnh uỷ", "diện BTV Tỉnh ủy quản lý",
            "diện Ban Thường vụ Tỉnh ủy quản lý", "standing committee",
        ),
        "unit": (
            "địa phương, đơn vị", "địa phương đơn vị", "đơn vị", "địa phương",
            "diện địa phương, đơn vị quản lý", "địa phương, đơn vị quản lý",
        ),
    },
    "management category",
    "standing_committee (BTV Tỉnh ủy) or unit (địa phương, đơn vị)",
)

parse_purpose = _choice(
    {
        "official": ("công vụ", "công tác", "việc công", "official trip"),
        "private": ("việc riêng", "riêng", "cá nhân", "private trip"),
    },
    "purpose",
    "official (công vụ) or private (việc riêng)",
)

parse_yes_no = _choice(
    {
        "yes": ("y", "true", "1", "x", "có", "rồi", "đã", "đạt", "đã duyệt", "accepted"),
        "no": ("n", "false", "0", "không", "chưa", "chưa đạt", "không đạt"),
    },
    "yes/no value",
    "yes (có) or no (không)",
)
# fmt: on


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


@lru_cache(maxsize=1)
def _country_tables() -> tuple[dict[str, str], dict[str, str]]:
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
    codes, names = _country_tables()
    part = part.strip()
    if part.isascii() and part.isalpha() and part.isupper() and part in codes:
        return codes[part]
    found = names.get(fold(part))
    if found is None and part.isascii() and part.isalpha():
        found = codes.get(part.upper())
    return found


_DEST_SPLIT = re.compile(r"[;,/\n]|\s+-\s+")


def parse_destinations(value: object) -> tuple[str, ...]:
    """Countries as ISO codes (``KH``, ``KOR``) or names in English or Vietnamese,
    separated by ``,`` or ``;`` → ISO alpha-2 codes, in order, without repeats.
    A name with a comma (``Korea, Republic of``) is tried whole first."""
    raw = text(value)
    if not raw:
        raise ValueError("no destination country")
    whole = country_code(raw)
    if whole:
        return (whole,)
    parts = [p.strip() for p in _DEST_SPLIT.split(raw) if p.strip()]
    codes: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(parts):
        pair = f"{parts[i]}, {parts[i + 1]}" if i + 1 < len(parts) else ""
        code = country_code(pair) if pair else None
        i += 2 if code else 1
        code = code or country_code(parts[i - 1])
        if code is None:
            unknown.append(parts[i - 1])
        elif code not in codes:
            codes.append(code)
    if unknown:
        raise ValueError(f"unknown country {', '.join(repr(u) for u in unknown)}")
    if not codes:
        raise ValueError("no destination country")
    return tuple(codes)


_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def parse_email(value: object) -> str:
    raw = text(value)
    if not _EMAIL.match(raw):
        raise ValueError("not an e-mail address")
    return raw
