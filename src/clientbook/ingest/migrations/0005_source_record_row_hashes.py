from django.db import migrations, models


class Migration(migrations.Migration):
    """A source record keeps the hash of every row of its key, in file order,
    and how many of them the job that last saw it has read. A single hash
    kept now counts as a key of one row; varchar to text rewrites nothing
    on PostgreSQL, and a column with a constant default is added in place."""

    dependencies = [
        ("ingest", "0004_audit_and_source_record_indexes"),
    ]

    operations = [
        migrations.RenameField(
            model_name="sourcerecord",
            old_name="content_hash",
            new_name="content_hashes",
        ),
        migrations.AlterField(
            model_name="sourcerecord",
            name="content_hashes",
            field=models.TextField(),
        ),
        migrations.AddField(
            model_name="sourcerecord",
            name="rows_read",
            field=models.PositiveIntegerField(db_default=1),
        ),
    ]
