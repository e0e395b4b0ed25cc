"""Run the reconciler once, now (celery beat runs it every RECONCILE_INTERVAL_SECONDS)."""

from django.core.management.base import BaseCommand

from imagetasks.services import tasks_reconcile


class Command(BaseCommand):
    help = "Re-enqueue pending tasks whose wake-up was lost and take back tasks whose worker vanished."

    def handle(self, *args, **options):
        report = tasks_reconcile()
        self.stdout.write(
            f"Re-enqueued {report['requeued']} pending task(s), resumed polling of {report['polled']}, "
            f"recovered {report['recovered']} from lost workers, failed {report['failed']} out of attempts, "
            f"woke {report['woken']} waiting for a slot."
        )
