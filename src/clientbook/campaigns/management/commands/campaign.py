"""`clientbook campaign …`: run a campaign from the shell, by name or UUID.

    clientbook campaign list
    clientbook campaign show "春季新茶"
    clientbook campaign select "春季新茶"            # counts per suppression reason
    clientbook campaign assign "春季新茶"            # control group and variants
    clientbook campaign stage "春季新茶" execute --note "approved"
    clientbook campaign rollout "春季新茶" B         # after the test: B to the rest
    clientbook campaign send "春季新茶" --now        # send here, not in the worker
    clientbook campaign responses "春季新茶" responses.csv
    clientbook campaign attribute "春季新茶"         # orders in the response window
    clientbook campaign report "春季新茶" [--by variant,branch] [--json]
    clientbook campaign history "2025 mailing" past.csv --control control

A history file has the columns of `campaigns.history` (customer or
identifier_type + identifier or external_id; arm; visited, converted,
spend; optional margin, wave, occurred_at).

Without --user the command acts as the system (every branch); with it, as
that user, with that user's role.
"""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from clientbook.campaigns import selectors, services
from clientbook.campaigns.api import jsonable
from clientbook.errors import ClientbookError
from clientbook.org.models import User

ACTIONS = [
    "list",
    "show",
    "select",
    "assign",
    "stage",
    "rollout",
    "send",
    "responses",
    "attribute",
    "report",
    "history",
]


class Command(BaseCommand):
    # Django's system checks load every view and API module: 1.4 s a call.
    # `migrate` and `run` still run them.
    requires_system_checks = []
    help = "Run a campaign: select, assign, change stage, send, record, evaluate."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("campaign", nargs="?", help="campaign name or UUID")
        parser.add_argument("value", nargs="?", help="stage, winner code or file")
        parser.add_argument("--user", help="act as this username")
        parser.add_argument("--note", default="", help="note for a stage change")
        parser.add_argument(
            "--now", action="store_true", help="send in this process (with progress)"
        )
        parser.add_argument("--by", default="variant,branch,segment,wave")
        parser.add_argument("--json", action="store_true", help="report as JSON")
        parser.add_argument("--control", help="history: the control arm's name")
        parser.add_argument("--channel", default="", help="history: the channel")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        try:
            user = self._user(options["user"])
            if action == "list":
                return self._list()
            if not options["campaign"]:
                raise CommandError(_("Name the campaign."))
            if action == "history":
                return self._history(options, user)
            campaign = selectors.campaign_get(ref=options["campaign"])
            getattr(self, f"_{action}")(campaign, user, options)
        except ClientbookError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc

    def _user(self, username: str | None):
        if not username:
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(_("No active user “%(name)s”.") % {"name": username})
        return user

    def _value(self, options, missing: str) -> str:
        if not options["value"]:
            raise CommandError(missing)
        return options["value"]

    def _table(self, rows) -> None:
        for row in rows:
            self.stdout.write("\t".join(str(v) for v in row))

    def _list(self) -> None:
        from clientbook.campaigns.evaluation import campaign_kpis

        campaigns = list(selectors.campaign_list())
        kpis = campaign_kpis(campaigns)
        self._table(
            [(_("name"), _("stage"), _("members"), _("contacted"), _("response rate"))]
        )
        for c in campaigns:
            kpi = kpis.get(c.pk) or {}
            rate = kpi.get("response_rate")
            shown = "—" if rate is None else f"{rate:.2%}"
            self._table(
                [
                    (
                        c.name,
                        c.stage,
                        kpi.get("members", 0),
                        kpi.get("contacted", 0),
                        shown,
                    )
                ]
            )

    def _show(self, campaign, user, options) -> None:
        self.stdout.write(f"{campaign.name} ({campaign.get_stage_display()})")
        self._table(
            [(label, count) for _k, label, count in selectors.selection_table(campaign)]
        )
        for arm in selectors.arm_table(campaign):
            self._table(
                [(arm["variant__code"] or _("waiting"), arm["wave"] or "-",
                  arm["members"], arm["contacted"], arm["responded"])]
            )  # fmt: skip

    def _select(self, campaign, user, options) -> None:
        counts = services.campaign_select(campaign=campaign, actor=user)
        campaign.refresh_from_db()
        self._table(
            [(label, count) for _k, label, count in selectors.selection_table(campaign)]
        )
        del counts

    def _assign(self, campaign, user, options) -> None:
        counts = services.campaign_assign(campaign=campaign, actor=user)
        self._table(sorted(counts.items()))

    def _stage(self, campaign, user, options) -> None:
        to = self._value(options, _("Give the stage to move to."))
        services.campaign_stage_set(
            campaign=campaign, to=to, actor=user, note=options["note"]
        )
        self.stdout.write(_("Stage: %(stage)s") % {"stage": to})

    def _rollout(self, campaign, user, options) -> None:
        winner = selectors.variant_get(
            campaign, self._value(options, _("Give the code of the winning variant."))
        )
        services.campaign_rollout(
            campaign=campaign, winner=winner, actor=user, note=options["note"]
        )
        self.stdout.write(_("Variant %(code)s rolled out.") % {"code": winner.code})

    def _send(self, campaign, user, options) -> None:
        from clientbook.campaigns import sending

        dispatch = sending.campaign_send(campaign=campaign, actor=user)
        if not options["now"]:
            self.stdout.write(
                _("Send %(id)s queued; `clientbook worker` sends it.")
                % {"id": dispatch.pk}
            )
            return
        dispatch = sending.dispatch_run(dispatch)
        self.stdout.write(
            _("Sent %(sent)d, failed %(failed)d, interrupted %(interrupted)d.")
            % {"sent": dispatch.sent, "failed": dispatch.failed,
               "interrupted": dispatch.interrupted}
        )  # fmt: skip

    def _rows(self, path: str) -> list[dict]:
        if not Path(path).is_file():
            raise CommandError(_("No file “%(path)s”.") % {"path": path})
        return services.table_rows(Path(path))

    def _responses(self, campaign, user, options) -> None:
        rows = self._rows(self._value(options, _("Give the CSV file.")))
        result = services.responses_import(campaign=campaign, rows=rows, actor=user)
        for reject in result["rejected"]:
            self.stderr.write(
                _("row %(row)s, %(field)s = “%(value)s”: %(reason)s") % reject
            )
        self.stdout.write(
            _("%(created)d recorded, %(unchanged)d already there, %(bad)d rejected.")
            % {"created": result["created"], "unchanged": result["unchanged"],
               "bad": len(result["rejected"])}
        )  # fmt: skip

    def _attribute(self, campaign, user, options) -> None:
        from clientbook.campaigns.attribution import campaign_attribute

        result = campaign_attribute(campaign=campaign, actor=user)
        self.stdout.write(json.dumps(jsonable(result), default=str, ensure_ascii=False))

    def _report(self, campaign, user, options) -> None:
        from clientbook.campaigns import evaluation

        dims = tuple(d.strip() for d in options["by"].split(",") if d.strip())
        try:
            report = evaluation.campaign_report(campaign, by=dims)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            data = {
                "dimensions": jsonable(report.dimensions),
                "total": jsonable(report.total),
            }
            json.dump(data, sys.stdout, default=str, ensure_ascii=False, indent=1)
            return
        header = (
            _("group"), _("arm"), _("members"), _("contacted"), _("responded"),
            _("converted"), _("revenue"), _("lift"), _("p"),
        )  # fmt: skip
        self._table([header])
        for dimension, groups in report.dimensions.items():
            for group in groups:
                for arm in group.arms:
                    lift = arm.lift.response if arm.lift else None
                    self._table([(
                        f"{dimension}:{group.label}", arm.label, arm.members,
                        arm.contacted, arm.responded, arm.converted, arm.revenue,
                        *_lift(lift),
                    )])  # fmt: skip

    def _history(self, options, user) -> None:
        from clientbook.campaigns.history import campaign_history_import

        if not options["control"]:
            raise CommandError(_("Name the control arm with --control."))
        rows = self._rows(self._value(options, _("Give the CSV file.")))
        campaign = campaign_history_import(
            name=options["campaign"],
            rows=rows,
            actor=user,
            control=options["control"],
            channel=options["channel"],
        )
        self.stdout.write(
            _("Campaign %(name)s imported: %(n)d members.")
            % {"name": campaign.name, "n": campaign.members.count()}
        )


def _lift(lift) -> tuple[str, str]:
    """The difference over control and its p-value, as printed."""
    if lift is None or lift.difference is None:
        return "", ""
    p = "" if lift.p_value is None else f"{lift.p_value:.4g}"
    return f"{lift.difference:+.4f}", p
