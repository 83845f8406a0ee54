"""Chinese customers with realistic duplicates, end to end: two channels'
files imported (the import matches hard identifiers, 15- and 18-digit IDs
and phone formats included), then the probabilistic run links the rest
(homophones, typos, swapped characters, pinyin-only names, 上海 for 上海市)."""

import csv
import itertools
import random

import pytest

from clientbook.identity.services import dedupe_run
from clientbook.identity.tests.linkage import clusters, import_file, scores
from clientbook.identity.tests.people import HEADERS, MAPPING, people, variant
from clientbook.tests.factories import SourceFactory

PEOPLE = 1500
DUPLICATES = 600


def _write(path, persons) -> None:
    with path.open("w", newline="", encoding="utf-8-sig") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADERS)
        writer.writerows(p.row() for p in persons)


@pytest.mark.slow
@pytest.mark.django_db
def test_chinese_variants_are_found(tmp_path, settings):
    # given: a shop's members, and a call centre's list holding 600 of them again
    settings.CLIENTBOOK = {**settings.CLIENTBOOK, "IMPORT_DIR": tmp_path / "kept"}
    rnd = random.Random(11)
    members = people(PEOPLE)
    again = [variant(p, f"V{p.key}", rnd) for p in rnd.sample(members, DUPLICATES)]
    shop = SourceFactory(code="shop", trust=70)
    calls = SourceFactory(code="call-centre", trust=40)
    _write(tmp_path / "members.csv", members)
    _write(tmp_path / "calls.csv", again)
    assert import_file(tmp_path / "members.csv", shop, MAPPING) == (0, 0)
    # a made-up new number may be invalid: the fixed file leaves it out
    assert import_file(tmp_path / "calls.csv", calls, MAPPING)[1] == 0

    # when
    run = dedupe_run(auto_merge_above=0.95, review_above=0.5)

    # then: every two records now in one customer is a predicted link
    predicted = set()
    for records in clusters([shop, calls]).values():
        keys = sorted(k.removeprefix("id:") for _code, k in records)
        predicted.update(itertools.combinations(keys, 2))
    truth = {(p.key.removeprefix("V"), p.key) for p in again}
    precision, recall, f1 = scores(predicted, truth)
    print(
        f"\nChinese variants: {PEOPLE} people, {DUPLICATES} second records; run: "
        f"{run.customers} customers, {run.candidates} candidates, "
        f"{run.auto_merged} merged, {run.queued} queued; "
        f"precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}"
    )
    assert precision >= 0.98
    assert recall >= 0.95
