import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from django_tasks_db.models import DBTaskResult

from clientbook.campaigns import services
from clientbook.campaigns.models import Campaign, DoNotContact, Member, Response
from clientbook.campaigns.tests.helpers import everyone, reachable, ready_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def english(client):
    client.cookies["django_language"] = "en"
    with translation.override("en"):
        yield


def test_a_campaign_walks_its_lifecycle_through_the_pages(client, marketer, english):
    for _ in range(30):
        reachable()
    reachable(channels=())  # no consent: suppressed
    segment = everyone(marketer)
    client.force_login(marketer)
    response = client.post(
        reverse("campaigns:create"),
        {
            "name": "Spring tea",
            "purpose": "marketing",
            "expected_response_rate": "0.05",
            "response_window_days": 30,
            "frequency_cap_days": 30,
            "holdout_share": "0.1",
            "test_share": "0",
            "cost_per_contact": "0.5",
            "stratify_by": ["branch"],
            "segments": [str(segment.uuid)],
        },
    )
    campaign = Campaign.objects.get(name="Spring tea")
    assert response.status_code == 302 and response.url == campaign.get_absolute_url()
    client.post(
        reverse("campaigns:variant_add", args=[campaign.uuid]),
        {"code": "A", "name": "Letter A", "channel": "email", "weight": 1,
         "subject": "Hello {{ name }}", "body": "{{ name }}: {{ link }}"},
    )  # fmt: skip
    assert campaign.variants.count() == 1
    response = client.post(
        reverse("campaigns:select", args=[campaign.uuid]), follow=True
    )
    assert "30 customers may be contacted" in response.content.decode()
    client.post(reverse("campaigns:assign", args=[campaign.uuid]))
    assert (
        Member.objects.filter(campaign=campaign, variant__is_control=True).count() == 3
    )
    client.post(reverse("campaigns:stage", args=[campaign.uuid]), {"to": "plan"})
    response = client.post(
        reverse("campaigns:stage", args=[campaign.uuid]), {"to": "test"}, follow=True
    )
    assert "no test sample" in response.content.decode()
    client.post(reverse("campaigns:stage", args=[campaign.uuid]), {"to": "execute"})
    campaign.refresh_from_db()
    assert campaign.stage == "execute"
    page = client.get(campaign.get_absolute_url()).content.decode()
    for text in ("Selection", "No consent for the channel and purpose", "Evaluation",
                 "Control group", "Send"):  # fmt: skip
        assert text in page
    listing = client.get(reverse("campaigns:list")).content.decode()
    assert "Spring tea" in listing and "Execution" in listing


def test_a_bad_variant_is_refused_with_its_reason(client, marketer, english):
    campaign = services.campaign_create(name="C", actor=marketer)
    client.force_login(marketer)
    response = client.post(
        reverse("campaigns:variant_add", args=[campaign.uuid]),
        {"code": "A", "name": "A", "channel": "email", "weight": 1,
         "subject": "{% if %}", "body": "x"},
        follow=True,
    )  # fmt: skip
    assert "template has an error" in response.content.decode()
    assert not campaign.variants.exists()


def test_branch_staff_and_auditors_cannot_run_campaigns(
    client, branch_staff, auditor, marketer
):
    campaign = services.campaign_create(name="C", actor=marketer)
    for user in (branch_staff, auditor):
        client.force_login(user)
        assert client.get(reverse("campaigns:create")).status_code == 403
        response = client.post(reverse("campaigns:select", args=[campaign.uuid]))
        assert response.status_code == 403
        assert client.get(campaign.get_absolute_url()).status_code == 200


def test_responses_upload_reports_the_bad_rows(client, marketer, english):
    reachable()
    campaign = ready_campaign(marketer, holdout_share=0)
    services.campaign_assign(campaign=campaign, actor=marketer)
    code = Member.objects.get(campaign=campaign).code
    body = f"code,kind,amount\n{code},purchase,99\nZZZ,click,\n".encode("utf-8-sig")
    client.force_login(marketer)
    response = client.post(
        reverse("campaigns:responses_upload", args=[campaign.uuid]),
        {"file": SimpleUploadedFile("r.csv", body, content_type="text/csv")},
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'id="rejects"' in page and "ZZZ" in page
    assert Response.objects.get().amount == 99


def test_do_not_contact_page_adds_and_lifts(client, marketer, english):
    client.force_login(marketer)
    response = client.post(
        reverse("campaigns:do_not_contact"),
        {"value": "139 0000 1111", "channel": "sms", "reason": "asked"},
    )
    assert response.status_code == 302
    entry = DoNotContact.objects.get()
    assert entry.value == "+8613900001111" and entry.channel == "sms"
    page = client.get(reverse("campaigns:do_not_contact")).content.decode()
    assert "+8613900001111" not in page and "1111" in page  # masked
    response = client.post(
        reverse("campaigns:do_not_contact"), {"value": "not a number"}
    )
    assert "not a phone number" in response.content.decode()
    client.post(reverse("campaigns:do_not_contact_lift", args=[entry.pk]))
    entry.refresh_from_db()
    assert entry.lifted_at is not None


def test_the_360_page_shows_campaigns_and_do_not_contact(client, marketer, english):
    person = reachable()
    campaign = ready_campaign(marketer, holdout_share=0)
    services.campaign_assign(campaign=campaign, actor=marketer)
    services.do_not_contact_add(actor=marketer, customer=person, channel="sms")
    client.force_login(marketer)
    page = client.get(reverse("customers:detail", args=[person.uuid])).content.decode()
    assert 'id="campaigns"' in page and campaign.name in page
    assert "On the do-not-contact list" in page and "Variant A" in page


def test_a_large_selection_runs_in_the_worker(client, marketer, english, settings):
    from clientbook.campaigns.launch import is_running
    from clientbook.campaigns.tasks import prepare_task

    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "CAMPAIGN_SYNC_MEMBERS": 2}
    for _ in range(3):
        reachable()
    campaign = ready_campaign(marketer, holdout_share=0)  # selected once, small
    Campaign.objects.filter(pk=campaign.pk).update(selection_counts={})
    client.force_login(marketer)
    response = client.post(
        reverse("campaigns:select", args=[campaign.uuid]), follow=True
    )
    page = response.content.decode()
    campaign.refresh_from_db()
    assert "large campaign" in page and 'id="job-running"' in page
    assert is_running(campaign) and campaign.selection_counts == {}
    response = client.post(
        reverse("campaigns:select", args=[campaign.uuid]), follow=True
    )
    assert "is running" in response.content.decode()
    queued = DBTaskResult.objects.get(
        args_kwargs__args=[campaign.pk, "select", marketer.pk]
    )
    prepare_task.func(*queued.args_kwargs["args"])  # what the worker does
    campaign.refresh_from_db()
    assert not is_running(campaign) and campaign.job == "" and not campaign.job_error
    assert campaign.selection_counts["eligible"] == 3
