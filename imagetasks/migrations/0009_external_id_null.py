"""External ids: none is NULL (no longer ""), and the unique index per user has no condition — one that
every engine accepts (DocumentDB refuses the old `external_task_id > ""` beside the $type test
django-mongodb-backend adds). The old index is dropped where a database has it (created by 0001
before that migration stopped creating it)."""

from django.db import migrations, models

OLD_INDEX = "imagetask_unique_external_id_per_user"


def drop_old_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "mongodb":
        collection = connection.get_collection("imagetasks_imagetask")
        if OLD_INDEX in collection.index_information():
            collection.drop_index(OLD_INDEX)
    else:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD_INDEX}"')


def blank_to_null(apps, schema_editor):
    apps.get_model("imagetasks", "ImageTask").objects.filter(external_task_id="").update(external_task_id=None)


def null_to_blank(apps, schema_editor):
    apps.get_model("imagetasks", "ImageTask").objects.filter(external_task_id=None).update(external_task_id="")


class Migration(migrations.Migration):
    dependencies = [
        ("imagetasks", "0008_retention"),
        ("users", "0003_usage_counters"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveConstraint(model_name="imagetask", name=OLD_INDEX)],
            database_operations=[migrations.RunPython(drop_old_index, migrations.RunPython.noop)],
        ),
        migrations.AlterField(
            model_name="imagetask",
            name="external_task_id",
            field=models.CharField(
                blank=True, default=None, max_length=128, null=True, verbose_name="external task id"
            ),
        ),
        migrations.RunPython(blank_to_null, null_to_blank),
        migrations.AddConstraint(
            model_name="imagetask",
            constraint=models.UniqueConstraint(fields=("user", "external_task_id"), name=OLD_INDEX),
        ),
    ]
