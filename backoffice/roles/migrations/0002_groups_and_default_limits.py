"""The three role groups and default approval limits (editable later by superusers, journaled)."""

from django.db import migrations

from backoffice.roles.defaults import install_defaults


def forwards(apps, schema_editor):
    install_defaults(
        apps.get_model("auth", "Group"),
        apps.get_model("roles", "ApprovalLimit"),
        apps.get_model("roles", "DualApprovalThreshold"),
    )


class Migration(migrations.Migration):
    dependencies = [("roles", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
