"""`make redis-queue-clear[-force]`: empty the broker queue. Tasks the database still calls pending
are not lost — the reconciler enqueues them again — unless `--cancel-pending` says to cancel them."""

from django.core.management.base import BaseCommand, CommandError

from imagetasks.models import ImageTask, Status
from imagetasks.queues import queue_purge
from imagetasks.services import task_cancel
from jimeng_server.errors import DomainError


class Command(BaseCommand):
    help = "Empty the broker queue. Pending tasks stay pending and are re-enqueued by the reconciler."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Do not ask for confirmation.")
        parser.add_argument(
            "--cancel-pending", action="store_true", help="Also cancel every pending task in the database."
        )

    def handle(self, *args, force=False, cancel_pending=False, **options):
        pending = ImageTask.objects.filter(status=Status.PENDING).count()
        if not force:
            what = (
                f"cancel {pending} pending task(s)"
                if cancel_pending
                else "keep pending tasks (they will be re-enqueued)"
            )
            try:
                answer = input(f"Empty the broker queue and {what}? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("Nothing cleared.")
        removed = queue_purge()
        self.stdout.write(f"Removed {removed} message(s) from the broker queue.")
        if cancel_pending:
            canceled = 0
            for task_id in ImageTask.objects.filter(status=Status.PENDING).values_list("id", flat=True):
                try:
                    task_cancel(task_id=task_id)
                    canceled += 1
                except DomainError:  # claimed or finished meanwhile
                    continue
            self.stdout.write(f"Canceled {canceled} pending task(s).")
        else:
            self.stdout.write(f"{pending} pending task(s) remain pending; the reconciler enqueues them again.")
