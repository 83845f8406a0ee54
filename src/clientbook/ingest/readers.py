"""Streaming readers: CSV (UTF-8 with or without BOM, GBK/GB18030), XLSX
(any sheet), JSON Lines. Each yields (row number, {column: text}) with row 1
the first data row, and never holds the whole file in memory."""

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

from clientbook.errors import ValidationFailed

Row = tuple[int, dict[str, str]]
_BLOCK = 1 << 20


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[Row]


def detect_encoding(path: Path) -> str:
    """ "utf-8-sig" if the whole file decodes as UTF-8, else "gb18030" (what
    Chinese Excel writes as "CSV"; a superset of GBK and GB2312)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as stream:
        try:
            while block := stream.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def open_table(path: Path, *, sheet: str = "") -> Table:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx(path, sheet)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return _csv(path)
    raise ValidationFailed(
        "unsupported_file",
        _("Cannot read “%(name)s”: use CSV, XLSX or JSON Lines.") % {"name": path.name},
        field="file",
        value=path.name,
    )


def _clean_headers(raw: list) -> list[str]:
    headers = [str(h or "").strip().lstrip("\ufeff") for h in raw]
    seen: dict[str, int] = {}
    for i, name in enumerate(headers):
        name = name or f"column_{i + 1}"
        if name in seen:  # two columns with one name: keep both, told apart
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        headers[i] = name
    return headers


def _csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    stream = path.open("r", encoding=encoding, newline="")
    sample = stream.read(64 * 1024)
    stream.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(stream, dialect)
    headers = _clean_headers(next(reader, []))

    def rows() -> Iterator[Row]:
        with stream:
            width = len(headers)
            for number, values in enumerate(reader, start=1):
                if "".join(values).strip():  # not blank (as any(), in C)
                    if len(values) > width:
                        yield number, _row(headers, values)
                    else:  # cells of a CSV are text already: only stripped
                        yield (
                            number,
                            dict(zip(headers, map(str.strip, values), strict=False)),
                        )

    return Table(headers, rows())


def _row(headers: list[str], values: list) -> dict[str, str]:
    row = {h: _text(v) for h, v in zip(headers, values, strict=False)}
    for extra, value in enumerate(values[len(headers) :], start=len(headers) + 1):
        row[f"column_{extra}"] = _text(value)
    return row


def _text(value) -> str:
    """Cell values as the text a user typed: 13800138000.0 → "13800138000"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return (
            value.isoformat(sep=" ") if value.time() != dt.time() else str(value.date())
        )
    return str(value).strip()


def xlsx_sheets(path: Path) -> list[str]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def _xlsx(path: Path, sheet: str) -> Table:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    if sheet and sheet not in book.sheetnames:
        book.close()
        raise ValidationFailed(
            "unknown_sheet",
            _("The workbook has no sheet “%(sheet)s”.") % {"sheet": sheet},
            field="sheet",
            value=sheet,
        )
    cells = book[sheet or book.sheetnames[0]].iter_rows(values_only=True)
    headers = _clean_headers(list(next(cells, ())))

    def rows() -> Iterator[Row]:
        try:
            for number, values in enumerate(cells, start=1):
                if any(v not in (None, "") for v in values):
                    yield number, _row(headers, list(values))
        finally:
            book.close()

    return Table(headers, rows())


def _jsonl(path: Path) -> Table:
    # The headers are the keys of the first object; later keys are kept too.
    stream = io.TextIOWrapper(path.open("rb"), encoding="utf-8-sig")
    first = stream.readline()
    stream.seek(0)
    try:
        headers = list(json.loads(first)) if first.strip() else []
    except json.JSONDecodeError:
        headers = []

    def rows() -> Iterator[Row]:
        with stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    data = None
                if not isinstance(data, dict):
                    yield number, {"__invalid__": line.strip()}
                    continue
                yield number, {k: _json_text(v) for k, v in data.items()}

    return Table(headers, rows())


def _json_text(value) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return _text(value)
