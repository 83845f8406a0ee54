import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from clientbook.campaigns.models import Campaign, Member
from clientbook.campaigns.tests.helpers import reachable, ready_campaign

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    with translation.override("en"):
        call_command("campaign", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_select_assign_stage_report_from_the_shell(marketer, tmp_path):
    for _ in range(10):
        reachable()
    campaign = ready_campaign(marketer, holdout_share="0.2")
    assert "10" in run("select", campaign.name)
    assert run("assign", str(campaign.uuid)).splitlines() == ["A\t8", "control\t2"]
    run("stage", campaign.name, "plan")
    run("stage", campaign.name, "execute", "--note", "ok")
    assert Campaign.objects.get().stage == "execute"
    code = Member.objects.filter(variant__code="A").first().code
    path = tmp_path / "r.csv"
    path.write_text(f"code,kind\n{code},visit\nBAD,visit\n", encoding="utf-8")
    assert "1 recorded" in run("responses", campaign.name, str(path))
    report = run("report", campaign.name, "--by", "variant")
    assert "variant:" in report and "\t8\t" in report
    assert campaign.name in run("list")


def test_errors_are_command_errors(marketer):
    with pytest.raises(CommandError, match="not_found"):
        run("show", "nope")
    campaign = ready_campaign(marketer)
    with pytest.raises(CommandError, match="invalid_stage"):
        run("stage", campaign.name, "closed")
