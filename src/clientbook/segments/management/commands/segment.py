"""`clientbook segment count|export|snapshot SEGMENT`: a segment by name or UUID.

    clientbook segment count "春季 VIP"
    clientbook segment export "春季 VIP" --format xlsx --columns name,mobile,city \
        --output vip.xlsx
    clientbook segment snapshot "春季 VIP" --user alice --yes

Without --user the command acts as the system: every branch, numbers masked.
With --user it sees what that user sees; --pii shows national ID and phone
numbers only if that user holds view_pii. A snapshot writes, so it asks for
--yes (a dry run shows the count it would freeze).
"""

import shutil
import sys
import tempfile

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from clientbook.errors import ClientbookError
from clientbook.org.models import User
from clientbook.segments import exports, selectors, services


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = "Count, export or snapshot a segment."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["count", "export", "snapshot"])
        parser.add_argument("segment", help="segment name or UUID")
        parser.add_argument("--user", help="act as this username (scope, view_pii)")
        parser.add_argument("--format", choices=exports.FORMATS, default="csv")
        parser.add_argument(
            "--columns",
            default=",".join(exports.DEFAULT_COLUMNS),
            help="comma-separated: " + ", ".join(exports.COLUMNS),
        )
        parser.add_argument("--output", help="file to write (default: stdout)")
        parser.add_argument(
            "--pii", action="store_true", help="unmasked numbers (needs view_pii)"
        )
        parser.add_argument(
            "--yes", action="store_true", help="take the snapshot (else a dry run)"
        )

    def handle(self, *args, **options) -> None:
        try:
            user = self._user(options["user"])
            segment = selectors.segment_get(ref=options["segment"])
            action = options["action"]
            if action == "count":
                count = selectors.segment_count(segment, user)
                self.stdout.write(str(count))
            elif action == "snapshot":
                self._snapshot(segment, user, confirmed=options["yes"])
            else:
                self._export(segment, user, options)
        except ClientbookError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _user(self, username: str | None):
        if not username:
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("No active user “%(name)s”.") % {"name": username})
        return user

    def _snapshot(self, segment, user, *, confirmed: bool) -> None:
        if not confirmed:
            count = selectors.segment_count(segment, None)
            self.stdout.write(
                _("Dry run: a snapshot would freeze %(count)d members; add --yes.")
                % {"count": count}
            )
            return
        snapshot = services.segment_snapshot(segment=segment, actor=user)
        self.stdout.write(
            _("Snapshot %(uuid)s: %(count)d members.")
            % {"uuid": snapshot.uuid, "count": snapshot.count}
        )

    def _export(self, segment, user, options) -> None:
        columns = [c.strip() for c in options["columns"].split(",") if c.strip()]
        # A temporary file first: XLSX needs a seekable file, and a refused
        # export leaves no half-written output behind.
        with tempfile.TemporaryFile() as out:
            count = services.segment_export(
                segment=segment,
                actor=user,
                out=out,
                columns=columns,
                format=options["format"],
                pii=options["pii"],
            )
            out.seek(0)
            if options["output"]:
                with open(options["output"], "wb") as target:
                    shutil.copyfileobj(out, target)
            else:
                self.stdout.flush()
                shutil.copyfileobj(out, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        self.stderr.write(_("%(count)d members exported.") % {"count": count})
