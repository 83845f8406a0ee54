"""The text an import hands PostgreSQL itself (array literals, COPY rows)
reads back as the values it was made from."""

import datetime as dt

import pytest
from django.db import connection

from clientbook.ingest import fastwrite, staging

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="array literals are PostgreSQL's"
    ),
]

AWKWARD = ["plain", "", 'a","b', 'say "hi"', "back\\slash", "{x}", "a,b", " s ", "中文"]


@pytest.mark.parametrize(
    "values",
    [AWKWARD, ["only"], ['a","b'], ["back\\slash"], ["中文", "{x}"], [1, 22, 333]],
)
def test_array_literals_read_back_as_their_values(values):
    # given
    literal, type_ = fastwrite.array_literal(values)
    # when
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{type_}[]", [literal])
        back = cursor.fetchone()[0]
    # then
    assert back == values


@pytest.mark.parametrize(
    "text",
    ["plain", "中文", "tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N"],
)
def test_copy_text_reads_back_as_its_cells(text):
    # given: a cell COPY must escape (each kind alone), NULLs, a date, a boolean
    cells = [text, "", None, "plain", dt.date(2024, 7, 20), False]
    columns = "a text, b text, c text, d text, e date, f boolean"
    # when
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE copied ({columns})")
        with cursor.copy("COPY copied FROM STDIN") as copy:
            copy.write(staging._copy_text(cells) + "\n")
        cursor.execute("SELECT * FROM copied")
        back = list(cursor.fetchone())
    # then
    assert back == cells
