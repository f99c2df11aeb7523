from django.apps import AppConfig
from django.db.models.signals import post_save


class Config(AppConfig):
    name = "backoffice.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_celery_beat.models import PeriodicTask

        from backoffice.scheduling import load_task_modules, on_periodic_task_saved

        # Every process that sets Django up (web, manage.py, worker, beat) knows every task, the
        # way a worker does: the in-process runner and /healthz look tasks up in this registry.
        load_task_modules()
        post_save.connect(on_periodic_task_saved, sender=PeriodicTask,
                          dispatch_uid="backoffice.scheduling.periodic_task_saved")
