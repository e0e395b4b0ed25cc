"""Make an API key from the command line (the first service key has to come from somewhere)."""

from django.core.management.base import BaseCommand, CommandError

from jimeng_server.errors import DomainError
from users.keys import api_key_create
from users.selectors import user_get


class Command(BaseCommand):
    help = "Make an API key: --service for an app backend acting for any user, or --user USER_ID."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--service", action="store_true", help="A service key: may act for any user_id.")
        who.add_argument("--user", help="The user the key belongs to.")
        parser.add_argument("--name", default="", help="A label, e.g. the app using it.")

    def handle(self, *args, service=False, user=None, name="", **options):
        if user:
            try:
                user_get(user_id=user)
            except DomainError as error:
                raise CommandError(error.message) from None
        key, secret = api_key_create(user_id=None if service else user, name=name)
        self.stdout.write(f"{secret}\n")
        self.stderr.write(
            f"API key {key.id} made ({'service' if service else 'user ' + user}). It is shown only now.\n"
        )
