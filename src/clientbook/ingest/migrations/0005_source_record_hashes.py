from django.db import migrations, models


class Migration(migrations.Migration):
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
            field=models.CharField(max_length=650),
        ),
    ]
