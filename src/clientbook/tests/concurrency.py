"""A second PostgreSQL connection to the test database, outside Django's,
for tests of what two transactions do at the same time."""

from django.db import connection


def other_connection():
    import psycopg  # only the PostgreSQL tests need it

    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
    )
