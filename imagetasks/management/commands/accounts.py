"""The upstream account pool: list it, put an account back in rotation, or take one out."""

from django.core.management.base import BaseCommand, CommandError

from imagetasks.selectors import accounts_standing
from imagetasks.services import account_restore, account_take_out


class Command(BaseCommand):
    help = "List the upstream accounts (in rotation or not, why, in flight); --restore or --take-out one."

    def add_arguments(self, parser):
        parser.add_argument("--restore", metavar="PROVIDER:NAME", help="put this account back in rotation")
        parser.add_argument("--take-out", metavar="PROVIDER:NAME", help="take this account out of rotation")
        parser.add_argument("--reason", default="taken out by an operator (manage.py accounts)")

    def handle(self, *args, **options):
        known = {f"{a['provider']}:{a['name']}" for a in accounts_standing()}
        for option in ("restore", "take_out"):
            target = options[option]
            if not target:
                continue
            if target not in known:
                raise CommandError(f"No configured account {target!r}; known: {', '.join(sorted(known)) or 'none'}.")
            provider, name = target.split(":", 1)
            if option == "restore":
                done = account_restore(provider=provider, name=name, by="manage.py accounts")
                self.stdout.write(f"{target} {'put back in rotation' if done else 'was already in rotation'}.")
            else:
                account_take_out(provider=provider, name=name, reason=options["reason"])
                self.stdout.write(f"{target} taken out of rotation.")
        for account in accounts_standing():
            state = "in rotation" if account["in_rotation"] else f"OUT: {account['reason']}"
            self.stdout.write(
                f"{account['provider']}:{account['name']}  {state}  in flight {account['in_flight']}"
                f"  (concurrency {account['concurrency'] or '-'}, weight {account['weight']:g})"
            )
