"""FEBRL4 end to end: both files imported through the product's import,
linked by its duplicate detection, scored against the truth in rec_id.

rec_id is imported only as the source's own key (`external_id`), never as
a match feature; `rec-N-org` in file A and `rec-N-dup-0` in file B are one
person (5,000 true links).
"""

import re
import shutil
from pathlib import Path

import pytest

from clientbook.customers.models import Customer
from clientbook.customers.services import custom_field_define
from clientbook.identity.config import DedupeConfig
from clientbook.identity.models import DuplicatePair, PairStatus
from clientbook.identity.services import dedupe_run
from clientbook.identity.tests.linkage import (
    import_file,
    jobs_summary,
    linked_pairs,
    scores,
)
from clientbook.tests.factories import SourceFactory

FEBRL = Path("/work/shared/datasets/febrl")
MAPPING = {
    "rec_id": "external_id",
    "given_name": "given_name",
    "surname": "family_name",
    "street_number": "custom:street_number",
    "address_1": "street",
    "address_2": "district",
    "suburb": "city",
    "postcode": "postcode",
    "state": "province",
    "date_of_birth": "birth_date",
    "soc_sec_id": "custom:soc_sec_id",
}


def _number(key: str) -> str:
    return re.match(r"id:rec-(\d+)-", key).group(1)


@pytest.mark.slow
@pytest.mark.django_db
def test_febrl4_linkage_end_to_end(tmp_path, settings):
    # given: the two files imported as two channels
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": tmp_path / "kept"}
    for key, label in (("soc_sec_id", "Social security ID"), ("street_number", "No.")):
        custom_field_define(
            key=key, label=label, customer_kind="individual", field_type="text"
        )
    a = SourceFactory(code="febrl-a", trust=60)
    b = SourceFactory(code="febrl-b", trust=50)
    rejected = []
    for source, name in ((a, "dataset4a.csv"), (b, "dataset4b.csv")):
        copy = tmp_path / name
        shutil.copyfile(FEBRL / name, copy)
        rejected.append(import_file(copy, source, MAPPING))
    assert Customer.objects.count() == 10_000 - sum(r[1] for r in rejected)

    # when
    run = dedupe_run(
        config=DedupeConfig(extra_fields=("soc_sec_id", "street_number")),
        auto_merge_above=0.99,
        review_above=0.5,
    )

    # then
    truth = {
        (f"id:rec-{n}-org", f"id:rec-{n}-dup-0") for n in range(5000)
    }  # rec numbers run 0..4999 in FEBRL4
    predicted = linked_pairs([a, b], "febrl-a", "febrl-b")
    precision, recall, f1 = scores(predicted, truth)
    queued = DuplicatePair.objects.filter(status=PairStatus.PENDING).count()
    print(
        f"\nFEBRL4 end to end: {jobs_summary()}; rejected first/after fixing "
        f"{rejected}; run: {run.customers} customers, {run.candidates} candidates, "
        f"{run.auto_merged} merged, {queued} queued; "
        f"precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}"
    )
    assert {_number(x) == _number(y) for x, y in predicted} == {True}
    assert f1 >= 0.995
    assert run.auto_merged == len(predicted)
