from django.db import migrations, models


class Migration(migrations.Migration):
    """Breaks found by their PSP id alone (search, the list's ``q``), whatever the PSP."""

    dependencies = [
        ('reconciliation', '0003_settlement_upload'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='break',
            index=models.Index(fields=['psp_reference'], name='break_psp_reference_idx'),
        ),
    ]
