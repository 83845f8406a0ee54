"""Direct mail: the print list sorted for the post office, its CSV/XLSX
and labels, who may download it, and the release to print."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from clientbook.activity.models import Interaction
from clientbook.campaigns.channels import mail
from clientbook.campaigns.models import Member
from clientbook.campaigns.tests.test_sending import grant, person, running_campaign

LETTER = ("L", "mail", "", "尊敬的{{ name }}：{{ offer }}")


@pytest.fixture
def campaign(marketer, source, branch):
    person(
        source,
        branch,
        consents=["mail"],
        name="丙",
        postcode="310000",
        street="西湖路1号",
    )
    person(
        source,
        branch,
        consents=["mail"],
        name="甲",
        postcode="100000",
        street="长安街9号",
    )
    person(
        source,
        branch,
        consents=["mail"],
        name="乙",
        postcode="200001",
        street="南京路2号",
    )
    person(
        source,
        branch,
        consents=["mail"],
        name="丁",
        postcode="200001",
        street="=HYPERLINK(1)",
    )
    person(source, branch, consents=["mail"], name="无址", street=None)
    person(source, branch, consents=["sms"], name="无同意")
    return running_campaign(marketer, [LETTER])


def test_list_is_sorted_by_postcode_and_leaves_out_the_unreachable(campaign):
    rows = list(mail.rows(campaign))
    assert [r["name"] for r in rows] == ["甲", "丁", "乙", "丙"]
    assert [r["postcode"] for r in rows] == ["100000", "200001", "200001", "310000"]
    assert all(r["code"] for r in rows)


def test_csv_download_is_formula_safe(client, marketer, campaign):
    client.force_login(marketer)
    url = reverse("campaigns:mail_download", args=[campaign.uuid, "csv"])

    answer = client.get(url)

    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == 5
    streets = [r[6] for r in rows[1:]]
    assert "'=HYPERLINK(1)" in streets


def test_xlsx_download_keeps_postcodes_as_text(client, marketer, campaign):
    client.force_login(marketer)
    answer = client.get(
        reverse("campaigns:mail_download", args=[campaign.uuid, "xlsx"])
    )
    sheet = load_workbook(io.BytesIO(answer.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1][1:3] == ("甲", "100000")
    assert len(values) == 5


def test_labels_page_is_a4_three_by_eight(client, marketer, campaign):
    client.force_login(marketer)
    page = client.get(reverse("campaigns:mail_labels", args=[campaign.uuid]))
    html = page.content.decode()
    assert "@page { size: A4" in html
    assert "repeat(3, 70mm)" in html and "repeat(8, 37mm)" in html
    assert html.count('class="label"') == 4
    member = Member.objects.get(customer__name="甲")
    assert member.code in html and "长安街9号" in html


def test_a_page_of_labels_holds_24(marketer, source, branch):
    for _i in range(25):
        person(source, branch, consents=["mail"])
    pages = mail.label_pages(running_campaign(marketer, [LETTER]))
    assert [len(p) for p in pages] == [24, 1]


@pytest.mark.parametrize("fixture", ["branch_staff", None])
def test_only_those_who_may_see_the_campaign_download(
    client, campaign, request, fixture
):
    if fixture:
        client.force_login(request.getfixturevalue(fixture))
    for name, args in (
        ("campaigns:mail_download", [campaign.uuid, "csv"]),
        ("campaigns:mail_labels", [campaign.uuid]),
        ("campaigns:mail", [campaign.uuid]),
    ):
        answer = client.get(reverse(name, args=args))
        assert answer.status_code in (302, 404)
        assert "长安街" not in answer.content.decode()


def test_release_marks_the_letters_sent_once(client, marketer, campaign):
    gone = Member.objects.get(customer__name="丙")
    grant(gone.customer, "mail", status="withdrawn", at=timezone.now())
    client.force_login(marketer)

    client.post(reverse("campaigns:mail_release", args=[campaign.uuid]))

    sent = Member.objects.filter(status="sent")
    assert sorted(sent.values_list("customer__name", flat=True)) == ["丁", "乙", "甲"]
    contact = sent.get(customer__name="甲").contact
    assert contact.startswith("100000 ") and contact.endswith("长安街9号")
    assert Member.objects.get(pk=gone.pk).status == "skipped"
    letters = Interaction.objects.filter(type="letter", direction="out")
    assert letters.count() == 3
    # released letters leave the list; a second release sends nothing
    assert list(mail.rows(campaign)) == []
    assert mail.mail_release(campaign=campaign, actor=marketer) == {
        "sent": 0,
        "skipped": 0,
    }


def test_release_is_refused_to_branch_staff(branch_staff, campaign):
    from clientbook.errors import AccessDenied

    with pytest.raises(AccessDenied):
        mail.mail_release(campaign=campaign, actor=branch_staff)
