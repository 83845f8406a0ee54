from django.core.management.base import BaseCommand, CommandError

from clientbook.org.models import ApiToken, User
from clientbook.org.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Creates an API token for a staff member (key shown once), or revokes one."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")
        parser.add_argument(
            "--revoke", metavar="PREFIX", help="revoke the token with this prefix"
        )

    def handle(self, *args, username, name, revoke, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No staff member {username!r}.")
        if revoke:
            token = ApiToken.objects.filter(user=user, prefix=revoke).first()
            if token is None:
                raise CommandError(f"No token {revoke!r} for {username!r}.")
            api_token_revoke(token=token)
            self.stdout.write(f"Revoked {token.prefix}…")
            return
        _token, key = api_token_create(user=user, name=name)
        self.stdout.write(key)
