"""`make redis-queue-status`: messages waiting in the broker, and tasks per status in the database."""

from django.conf import settings
from django.core.management.base import BaseCommand

from imagetasks.queues import queue_depth
from imagetasks.selectors import task_counts_by_status, tasks_waiting_for_slot


class Command(BaseCommand):
    help = "Show the broker queue depth and the number of tasks in each status."

    def handle(self, *args, **options):
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        self.stdout.write(
            f"Broker ({broker}) queue '{settings.CELERY_TASK_DEFAULT_QUEUE}': {queue_depth()} message(s) waiting"
        )
        self.stdout.write("Tasks in the database:")
        for (status, kind), count in task_counts_by_status().items():
            self.stdout.write(f"  {status:<11} {kind:<6} {count}")
        self.stdout.write(f"  (pending and waiting for a free concurrency slot: {tasks_waiting_for_slot()})")
