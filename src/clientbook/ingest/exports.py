"""The reject report as an Excel workbook, written row by row (openpyxl's
write-only mode) so a job with many rejects does not fill memory."""

import tempfile
from pathlib import Path
from typing import IO

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from clientbook.ingest.models import ImportJob
from clientbook.ingest.readers import open_table


def import_rejects_xlsx(job: ImportJob) -> IO[bytes]:
    """The rejected rows as XLSX, in the same columns as `import_rejects_csv`:
    row, column, value, reason, then the row as it was read. Returns an open
    temporary file positioned at its start; closing it deletes it."""
    table = open_table(Path(job.file_path), sheet=job.sheet)
    table.rows.close()
    headers = list(table.headers)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Rejected rows")[:31])
    sheet.append([_("row"), _("column"), _("value"), _("reason"), *headers])
    for reject in job.rejects.order_by("row_number", "id").iterator(chunk_size=2000):
        values = [reject.column, reject.value, reject.reason]
        values += [reject.raw.get(h, "") for h in headers]
        sheet.append([reject.row_number, *(_text_cell(sheet, v) for v in values)])
    # The caller (a FileResponse) closes it once sent.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    book.save(out)
    out.seek(0)
    return out


def _text_cell(sheet, value) -> WriteOnlyCell:
    """Always text: a value such as "=1+1" or "0012" stays as typed, never
    a formula or a number, and control characters Excel refuses are dropped."""
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", str(value or "")))
    cell.data_type = "s"
    return cell
