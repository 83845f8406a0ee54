"""Members of a segment as CSV or XLSX with chosen columns.

One query streams the rows (identifiers and the address come from
correlated subqueries, so there is no per-customer query); national ID and
phone numbers are masked unless the export is allowed to show them.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from clientbook.customers.models import Address, Customer, Identifier
from clientbook.privacy.masking import mask_identifier

CHUNK = 2000
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Column:
    label: Any
    # what to select: a field path, or a function building an expression
    source: Any
    # an identifier type when the value must be masked without view_pii
    mask: str | None = None


def _identifier(type_: str):
    def build():
        return Subquery(
            Identifier.objects.filter(customer_id=OuterRef("pk"), type=type_)
            .order_by("-is_verified", "-last_seen", "id")
            .values("value")[:1]
        )

    return build


def _address(column: str):
    def build():
        return Subquery(
            Address.objects.filter(customer_id=OuterRef("pk"))
            .order_by("-is_valid", "id")
            .values(column)[:1]
        )

    return build


COLUMNS: dict[str, Column] = {
    "uuid": Column(_("ID"), "uuid"),
    "name": Column(_("name"), "name"),
    "kind": Column(_("kind"), "kind"),
    "gender": Column(_("gender"), "gender"),
    "birth_date": Column(_("birth date"), "birth_date"),
    "occupation": Column(_("occupation"), "occupation"),
    "income_band": Column(_("income band"), "income_band"),
    "lifecycle_stage": Column(_("lifecycle stage"), "lifecycle_stage"),
    "branch": Column(_("branch"), "branch__code"),
    "branch_name": Column(_("branch name"), "branch__name"),
    "mobile": Column(_("mobile"), _identifier("mobile"), mask="mobile"),
    "landline": Column(_("landline"), _identifier("landline"), mask="landline"),
    "email": Column(_("email"), _identifier("email")),
    "national_id": Column(
        _("national ID"), _identifier("national_id"), mask="national_id"
    ),
    "province": Column(_("province"), _address("province")),
    "city": Column(_("city"), _address("city")),
    "district": Column(_("district"), _address("district")),
    "street": Column(_("street"), _address("street")),
    "postcode": Column(_("postcode"), _address("postcode")),
    "quality_grade": Column(_("data quality grade"), "quality__grade"),
    "rfm_cell": Column(_("RFM cell"), "score__rfm_cell"),
    "value_tier": Column(_("value tier"), "score__value_tier"),
    "clv": Column(_("lifetime value"), "score__clv"),
    "churn_score": Column(_("churn score"), "score__churn_score"),
    "response_score": Column(_("response score"), "score__response_score"),
    "lookalike_score": Column(_("look-alike score"), "score__lookalike_score"),
    "created_at": Column(_("created"), "created_at"),
}
DEFAULT_COLUMNS = ("uuid", "name", "gender", "branch", "mobile", "email", "city")


def export_rows(
    queryset: QuerySet[Customer], columns: list[str], *, pii: bool
) -> Iterator[list[Any]]:
    """One list of values per member, in `columns` order, masked unless `pii`."""
    annotations = {}
    for key in columns:
        source = COLUMNS[key].source
        annotations[f"x_{key}"] = source() if callable(source) else F(source)
    rows = (
        queryset.order_by("pk")
        .annotate(**annotations)
        .values_list(*annotations)
        .iterator(chunk_size=CHUNK)
    )
    masks = [COLUMNS[key].mask for key in columns]
    for row in rows:
        yield [
            mask_identifier(m, v) if m and v and not pii else v
            for m, v in zip(masks, row, strict=True)
        ]


def _formula_safe(value: Any) -> str:
    """Text a spreadsheet will not run: a cell starting with = or @, or with
    + or - followed by something other than a digit (a phone number such as
    +8613800138000 or a negative amount stays as it is), gets a leading '."""
    text = "" if value is None else str(value)
    if not text:
        return text
    first = text[0]
    if first in "=@\t\r":
        return "'" + text
    if first in "+-" and not (len(text) > 1 and text[1].isdigit()):
        return "'" + text
    return text


def write_csv(out: IO[bytes], header: list[str], rows: Iterator[list]) -> int:
    """UTF-8 with a byte-order mark, so Excel opens Chinese text correctly."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow([_formula_safe(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([_formula_safe(v) for v in row])
        count += 1
    text.flush()
    text.detach()  # leaves `out` open for the caller
    return count


def write_xlsx(out: IO[bytes], header: list[str], rows: Iterator[list]) -> int:
    """Write-only workbook, every cell text: nothing becomes a formula or a
    number Excel reformats (leading zeros of postcodes, long IDs)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(_("Members"))[:31])
    sheet.append([_text_cell(sheet, h) for h in header])
    count = 0
    for row in rows:
        sheet.append([_text_cell(sheet, v) for v in row])
        count += 1
    book.save(out)
    return count


def _text_cell(sheet, value: Any) -> WriteOnlyCell:
    text = "" if value is None else str(value)
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", text))
    cell.data_type = "s"
    return cell
