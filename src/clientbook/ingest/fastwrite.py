"""Bulk inserts for imports: COPY on PostgreSQL, bulk_create elsewhere.

Django's bulk_create prepares every value of every row through its field
machinery, which is most of an import's time; COPY takes the rows as they
are. Primary keys are taken from the table's sequence first, so the rows
keep them for their children, as bulk_create's RETURNING would.
"""

from django.db import connection, models
from django.utils import timezone
from psycopg.types.json import Jsonb


def insert(objs: list[models.Model]) -> None:
    """Inserts unsaved instances of one model and sets their primary keys."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=1000)
        return
    fields = [f for f in model._meta.concrete_fields]
    _fill_auto_fields(objs, fields)
    _allocate_ids(model, objs)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    raw = connection.connection  # the psycopg connection of this transaction
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            copy.write_row([_value(obj, f, json_fields) for f in fields])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = "default"


def _value(obj, field, json_fields):
    value = getattr(obj, field.attname)
    if field.attname in json_fields and value is not None:
        return Jsonb(value)
    return value


def _fill_auto_fields(objs, fields) -> None:
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                if getattr(obj, field.attname) is None or field.auto_now:
                    setattr(obj, field.attname, now)


def _allocate_ids(model, objs) -> None:
    pk = model._meta.pk
    missing = [o for o in objs if o.pk is None]
    if not missing:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s))"
            " FROM generate_series(1, %s)",
            [model._meta.db_table, pk.column, len(missing)],
        )
        for obj, (value,) in zip(missing, cursor.fetchall(), strict=True):
            obj.pk = value
