"""Pure functions that bring identifiers and names into one stored form.

Each returns the normalised value or raises `NormaliseError` with a reason a
user can read. They never guess: a value that could mean two things is refused.
"""

import datetime as dt
import decimal
import functools
import operator
import re
import unicodedata
from typing import NamedTuple

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT


class NormaliseError(ValueError):
    pass


def halfwidth(text: str) -> str:
    """Full-width digits, letters and punctuation to ASCII; spaces collapsed."""
    if not text.isascii():  # NFKC leaves ASCII as it is: skip it for speed
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


_CN_MOBILE = re.compile(r"^(?:\+?86|0086)?(1\d{10})$")
_SEPARATORS = re.compile(r"[\s\-().]")


def phone(value: str, *, region: str = "CN") -> tuple[str, str]:
    """Returns (E.164 number, "mobile" | "landline")."""
    text = halfwidth(str(value))
    if region == "CN":
        match = _CN_MOBILE.match(_SEPARATORS.sub("", text))
        if match:
            return _cn_mobile(match.group(1))
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise NormaliseError(_("not a phone number")) from exc
    if not phonenumbers.is_valid_number(number):
        raise NormaliseError(_("not a valid phone number"))
    kind = phonenumbers.number_type(number)
    mobile = kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, "mobile" if mobile else "landline"


def _cn_mobile(number: str) -> tuple[str, str]:
    """A mainland mobile number, checked by its 7-digit prefix (号段): the
    numbering plan (phonenumbers' metadata) decides validity and type from at
    most the first five digits of an 11-digit number, so one full check per
    prefix, cached, gives the same answer at a fraction of the cost."""
    kind = _cn_prefix_kind(number[:7])
    if kind is None:
        raise NormaliseError(_("not a valid phone number"))
    return "+86" + number, kind


@functools.lru_cache(maxsize=100_000)
def _cn_prefix_kind(prefix: str) -> str | None:
    number = phonenumbers.parse(prefix + "0000", "CN")
    if not phonenumbers.is_valid_number(number):
        return None
    kind = phonenumbers.number_type(number)
    mobile = kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
    return "mobile" if mobile else "landline"


# Addresses of the common shape, all of which Django's validator accepts (a
# test draws from this pattern): it took 7 µs an address, from its lazily
# compiled patterns, this 1.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"\.[a-z]{2,63}"
)


def email(value: str) -> str:
    text = halfwidth(str(value)).replace(" ", "").lower()
    if len(text) <= 320 and _PLAIN_EMAIL.fullmatch(text):
        return text
    try:
        validate_email(text)
    except ValidationError as exc:
        raise NormaliseError(_("not a valid email address")) from exc
    return text


# A named tuple: an import makes one a row, in 0.8 µs (a frozen dataclass 1.9).
class NationalId(NamedTuple):
    number: str  # always the 18-digit form
    birth_date: dt.date
    gender: str  # "M" or "F"
    region_code: str
    upgraded: bool  # given in the old 15-digit form


_ID_15 = re.compile(r"\d{15}")
_ID_18 = re.compile(r"\d{17}[\dX]")
_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]
_ID_ZEROS = ord("0") * sum(_ID_WEIGHTS)


def id_check_digit(body: str) -> str:
    """The check digit of the first 17 digits of a 身份证 number (ISO 7064
    MOD 11-2, as stdnum's `ric.calc_check_digit`, without its clean-up
    passes: an import checks a million of them)."""
    if body.isascii():  # digits as their character codes: 4.5 → 1 µs
        total = sum(map(operator.mul, body.encode(), _ID_WEIGHTS)) - _ID_ZEROS
    else:  # \d also matches other scripts' digits
        total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=False))
    return "10X98765432"[total % 11]


@functools.lru_cache(maxsize=4096)  # a row's number is read twice: ID and birth date
def national_id(value: str) -> NationalId:
    """A 身份证 number (GB 11643). The 15-digit form (before 1999) becomes the
    18-digit one: "19" goes in before the year and the check digit is added,
    so both forms of one person's number are one identifier."""
    text = halfwidth(str(value)).replace(" ", "").upper()
    upgraded = False
    if _ID_15.fullmatch(text):
        body = text[:6] + "19" + text[6:]
        text = body + id_check_digit(body)
        upgraded = True
    if not _ID_18.fullmatch(text):
        raise NormaliseError(_("a national ID has 18 characters (or 15 digits)"))
    if id_check_digit(text) != text[-1]:
        raise NormaliseError(_("the check digit of this national ID is wrong"))
    try:
        birth = _id_birth_date(text[6:14])
    except ValueError as exc:
        raise NormaliseError(_("this national ID holds no valid birth date")) from exc
    return NationalId(
        number=text,
        birth_date=birth,
        gender="M" if int(text[16]) % 2 else "F",
        region_code=text[:6],
        upgraded=upgraded,
    )


def _id_birth_date(digits: str) -> dt.date:
    if digits.isascii():  # YYYYMMDD: a third of the time of three int()s
        return dt.date.fromisoformat(digits)
    # \d also matches other scripts' digits, which int() reads
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def identifier(type_: str, value: str) -> str:
    """The stored form of an identifier of the given type."""
    text = halfwidth(str(value))
    if not text:
        raise NormaliseError(_("empty value"))
    if type_ == "national_id":
        return national_id(text).number
    if type_ in ("mobile", "landline"):
        number, kind = phone(text)
        if kind != type_:
            raise NormaliseError(
                _("this is a landline number, not a mobile number")
                if kind == "landline"
                else _("this is a mobile number, not a landline number")
            )
        return number
    if type_ == "email":
        return email(text)
    if type_ == "passport":
        return text.replace(" ", "").upper()
    return text


def name(value: str) -> str:
    return halfwidth(str(value)).strip()


_WORD = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=200_000)
def name_keys(value: str) -> tuple[str, str]:
    """(pinyin, initials) in lower case, for matching names however typed:
    "张三" → ("zhangsan", "zs"); "Zhang San" → ("zhangsan", "zs")."""
    text = name(value).lower()
    # lazy_pinyin gives one syllable per Han character and keeps other runs whole.
    chunks = [text] if text.isascii() else _pinyin(text)
    words = [w for chunk in chunks for w in _WORD.findall(chunk)]
    return "".join(words)[:400], "".join(w[0] for w in words)[:100]


def _pinyin(text: str) -> list[str]:
    """`lazy_pinyin(text, style=Style.NORMAL)`, character by character where
    it would be: a short text of Han characters none of whose runs is one of
    pypinyin's phrases (it reads those whole, 重庆 chong qing). That is most
    personal names, and each name not yet seen took 13.4 µs, 1.9 so (the
    same keys for all 42,916 names of the import benchmark's file)."""
    if len(text) <= _BY_CHARACTER and not _has_phrase(text):
        syllables = [_syllable(c) for c in text]
        if None not in syllables:
            return syllables
    return lazy_pinyin(text, style=Style.NORMAL)


_BY_CHARACTER = 6  # longer texts (organisations) have more runs to check


def _has_phrase(text: str) -> bool:
    n = len(text)
    return any(text[i:j] in PHRASES_DICT for i in range(n) for j in range(i + 2, n + 1))


@functools.cache
def _syllable(character: str) -> str | None:
    """A Han character's pinyin alone, or None if it is no Han character."""
    if ord(character) not in PINYIN_DICT:
        return None
    [syllable] = lazy_pinyin(character, style=Style.NORMAL)
    return syllable


_DATE_PATTERNS = [
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_EXCEL_SERIAL = re.compile(r"\d{5}(\.0+)?")
_ISO_WITH_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug included).
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def date_value(value) -> dt.date:
    """2024-07-20, 2024/7/20, 2024.7.20, 2024年7月20日, 20240720, an Excel
    serial number of five digits (e.g. 45493; shorter ones would be taken for
    years or counts) or a datetime, as a date. Day-first and
    month-first forms (07/20/2024) are refused: they cannot be told apart."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _date_text(str(value))


@functools.lru_cache(maxsize=65_536)  # birth dates repeat across a file's rows
def _date_text(value: str) -> dt.date:
    match = _ISO_DATE.fullmatch(value)
    if match:  # the common form: no clean-up needed
        try:
            return dt.date(*map(int, match.groups()))
        except ValueError:
            raise NormaliseError(_("no such date")) from None
    text = halfwidth(value).replace(" ", "")
    if _EXCEL_SERIAL.fullmatch(text):
        serial = int(float(text))
        if 1 <= serial <= 2958465:
            return _EXCEL_EPOCH + dt.timedelta(days=serial)
    text = text.split("T")[0] if _ISO_WITH_TIME.match(text) else text
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(g) for g in match.groups())
            try:
                return dt.date(year, month, day)
            except ValueError:
                raise NormaliseError(_("no such date")) from None
    raise NormaliseError(_("not a date (use YYYY-MM-DD)"))


_GENDERS = {
    "男": "M",
    "m": "M",
    "male": "M",
    "1": "M",
    "先生": "M",
    "女": "F",
    "f": "F",
    "female": "F",
    "2": "F",
    "女士": "F",
    "": "",
    "未知": "",
    "u": "",
    "unknown": "",
    "0": "",
}


def gender(value) -> str:
    """男/女, M/F, male/female, 1/2 (GB/T 2261.1) as "M", "F" or "" (unknown)."""
    key = halfwidth(str(value)).strip().lower()
    if key not in _GENDERS:
        raise NormaliseError(_("not a gender (男/女, M/F, 1/2)"))
    return _GENDERS[key]


def money(value) -> decimal.Decimal:
    """¥1,234.50, 1234.5元, （1234.50） as Decimal with two places."""
    text = halfwidth(str(value)).replace(" ", "").replace(",", "")
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()").removeprefix("¥").removeprefix("￥").removesuffix("元")
    text = text.removeprefix("CNY").removeprefix("RMB")
    try:
        amount = decimal.Decimal(text).quantize(decimal.Decimal("0.01"))
    except decimal.InvalidOperation:
        raise NormaliseError(_("not an amount of money")) from None
    if not amount.is_finite():
        raise NormaliseError(_("not an amount of money"))
    return -amount if negative else amount


def datetime_value(value, *, tz: dt.tzinfo) -> dt.datetime:
    """A date and time in the common forms ("2024-07-20 10:30", "2024/7/20
    10:30:00", "2024年7月20日 10时30分", ISO 8601 with or without an offset, an
    Excel serial with a fraction, or a date alone, taken as midnight), aware:
    a time without an offset is read in `tz`."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = halfwidth(str(value)).strip()
        moment = _parse_datetime(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _parse_datetime(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        pass
    if re.fullmatch(r"\d{5}\.\d+", text):
        whole, fraction = divmod(float(text), 1)
        day = date_value(str(int(whole)))
        return dt.datetime.combine(day, dt.time()) + dt.timedelta(days=fraction)
    match = re.fullmatch(
        r"(.+?)[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2})秒?)?分?", text
    )
    if match:
        day = date_value(match.group(1))
        hour, minute, second = (int(g or 0) for g in match.groups()[1:])
        try:
            return dt.datetime.combine(day, dt.time(hour, minute, second))
        except ValueError:
            raise NormaliseError(_("no such time of day")) from None
    return dt.datetime.combine(date_value(text), dt.time())


# Legal-form suffixes that do not tell one organisation from another, longest
# first so that 股份有限公司 is removed whole before 有限公司 could match.
_ORG_SUFFIXES = sorted(
    [
        "股份有限公司",
        "有限责任公司",
        "有限公司",
        "集团有限公司",
        "集团公司",
        "集团",
        "公司",
        "分公司",
        "co ltd",
        "co., ltd.",
        "co., ltd",
        "co.,ltd.",
        "co.,ltd",
        "co ltd.",
        "company limited",
        "limited",
        "ltd.",
        "ltd",
        "inc.",
        "inc",
        "corp.",
        "corp",
        "corporation",
        "llc",
        "gmbh",
        "co.",
    ],
    key=len,
    reverse=True,
)


def organisation_key(value: str) -> str:
    """A match key for an organisation's name: half-width, lower case, legal
    forms removed from the end, punctuation and spaces dropped. "北京某某科技
    股份有限公司" and "北京某某科技有限公司" share a key; so do "ACME Co., Ltd."
    and "Acme Limited"."""
    text = name(value).lower().replace("（", "(").replace("）", ")")
    text = re.sub(r"\(.*?\)$", "", text).strip()  # a trailing "(北京)" branch note
    changed = True
    while changed:
        changed = False
        for suffix in _ORG_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)].rstrip(" ,.")
                changed = True
    return re.sub(r"[\s\W_]+", "", text)
