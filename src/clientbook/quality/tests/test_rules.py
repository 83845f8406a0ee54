"""The rules on plain values: completeness, each validity check, grades."""

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from clientbook.quality import rules
from clientbook.quality.config import QualityConfig, quality_config
from clientbook.quality.tests.helpers import NATIONAL_ID, NATIONAL_ID_BIRTH

TODAY = dt.date(2025, 6, 1)
CONFIG = QualityConfig()


def record(identifiers=(), addresses=(), **profile):
    return rules.Record(
        profile=profile, identifiers=list(identifiers), addresses=list(addresses)
    )


def test_completeness_is_the_share_of_configured_attributes_filled():
    # given: name, gender, mobile and an address: 4 of the 10 defaults
    rec = record(
        [("mobile", "+8613912345678"), ("wechat", "w1")],
        [{"city": "上海市", "is_valid": True}],
        name="张三",
        gender="M",
        birth_date=None,
        occupation="",
    )
    share, missing = rules.completeness(rec, CONFIG)
    assert share == pytest.approx(0.4)
    assert missing == [
        "birth_date",
        "national_id",
        "email",
        "occupation",
        "employer",
        "income_band",
    ]


def test_completeness_follows_the_configured_attributes():
    config = CONFIG.with_(richness_fields=("name", "phone", "wechat"))
    rec = record([("landline", "+862161234567")], name="张三")
    share, missing = rules.completeness(rec, config)
    assert share == pytest.approx(2 / 3)
    assert missing == ["wechat"]


@override_settings(
    CLIENTBOOK={"QUALITY": {"VERIFICATION_SHARE": 0.05, "grade1_selections": 4}}
)
def test_config_reads_settings_in_either_case():
    config = quality_config()
    assert config.verification_share == 0.05
    assert config.grade1_selections == 4
    assert config.window_days == 365


@pytest.mark.parametrize(
    "quality",
    [
        {"NO_SUCH_KEY": 1},
        {"RICHNESS_FIELDS": ["name", "shoe_size"]},
        {"VERIFICATION_SHARE": 0},
        {"VERIFICATION_SHARE": 1.5},
        {"MIN_AGE": 130},
    ],
)
def test_config_refuses_bad_settings(quality):
    with (
        override_settings(CLIENTBOOK={"QUALITY": quality}),
        pytest.raises(ImproperlyConfigured),
    ):
        quality_config()


def issues(rec, config=CONFIG):
    return rules.validity_issues(rec, config, today=TODAY)


def test_a_consistent_record_has_no_issues():
    rec = record(
        [
            ("national_id", NATIONAL_ID),
            ("mobile", "+8613912345678"),
            ("email", "zhang@example.cn"),
        ],
        [{"city": "北京市", "is_valid": True}],
        birth_date=NATIONAL_ID_BIRTH,
        gender="F",
    )
    assert issues(rec) == []


def test_national_id_birth_date_and_sex_must_agree_with_the_profile():
    rec = record(
        [("national_id", NATIONAL_ID)], birth_date=dt.date(1950, 1, 1), gender="M"
    )
    assert issues(rec) == [
        ("national_id", "birth_date_mismatch"),
        ("national_id", "gender_mismatch"),
    ]


def test_unknown_profile_values_are_not_a_mismatch():
    rec = record([("national_id", NATIONAL_ID)], birth_date=None, gender="")
    assert issues(rec) == []


@pytest.mark.parametrize(
    "type_, value",
    [
        ("national_id", "110105194912310021"),  # wrong check digit
        ("national_id", "110105491231002"),  # the 15-digit form, not stored form
        ("mobile", "+861391234"),
        ("mobile", "+862161234567"),  # a landline held as a mobile
        ("email", "zhang@@example.cn"),
    ],
)
def test_identifiers_that_no_longer_normalise(type_, value):
    assert issues(record([(type_, value)])) == [(type_, "invalid")]


def test_email_domain_without_a_dot():
    assert issues(record([("email", "zhang@localhost")])) == [
        ("email", "domain_without_dot")
    ]


def test_address_without_a_city_or_marked_invalid():
    assert issues(record(addresses=[{"city": "", "is_valid": True}])) == [
        ("address", "no_city")
    ]
    assert issues(record(addresses=[{"city": "上海", "is_valid": False}])) == [
        ("address", "marked_invalid")
    ]


@pytest.mark.parametrize(
    "birth, bad",
    [
        (dt.date(1905, 6, 2), False),  # 119
        (dt.date(1904, 6, 1), True),  # 121
        (dt.date(2025, 6, 1), False),  # born today
        (dt.date(2025, 6, 2), True),  # tomorrow
    ],
)
def test_birth_date_giving_an_impossible_age(birth, bad):
    found = issues(record(birth_date=birth))
    assert found == ([("birth_date", "impossible_age")] if bad else [])


NOW = timezone.now()
SINCE = NOW - dt.timedelta(days=365)


def grade(maintained_days_ago, selections, past_usage, config=CONFIG):
    maintained = (
        None
        if maintained_days_ago is None
        else NOW - dt.timedelta(days=maintained_days_ago)
    )
    return rules.grade(
        last_maintained_at=maintained,
        selections_recent=selections,
        has_past_usage=past_usage,
        since=SINCE,
        config=config,
    )


@pytest.mark.parametrize(
    "maintained, selections, past, expected",
    [
        (10, 3, False, 1),
        (365, 3, False, 1),  # exactly a year ago is within the year
        (10, 2, True, 2),
        (366, 3, True, 2),  # selected but not maintained within the year
        (10, 0, False, 2),
        (None, 1, False, 2),
        (366, 0, True, 3),
        (None, 0, True, 3),
        (366, 0, False, 4),
        (None, 0, False, 4),
    ],
)
def test_grade_boundaries(maintained, selections, past, expected):
    assert grade(maintained, selections, past) == expected


def test_grade_one_threshold_is_a_setting():
    config = CONFIG.with_(grade1_selections=5)
    assert grade(10, 4, False, config) == 2
    assert grade(10, 5, False, config) == 1
