import pytest

from clientbook.customers.geo import postcode_for, split_address


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("上海市黄浦区南京东路1号", ("上海市", "上海市", "黄浦区", "南京东路1号")),
        ("北京朝阳区建国路88号", ("北京市", "北京市", "朝阳区", "建国路88号")),
        ("杭州西湖区文三路", ("浙江省", "杭州市", "西湖区", "文三路")),
        ("广西南宁青秀区民族大道", ("广西壮族自治区", "南宁市", "青秀区", "民族大道")),
        ("重庆渝中区解放碑", ("重庆市", "重庆市", "渝中区", "解放碑")),
        ("浙江省杭州市余杭区", ("浙江省", "杭州市", "余杭区", "")),
        ("徐汇区漕溪北路88号", ("上海市", "上海市", "徐汇区", "漕溪北路88号")),
        ("上海 浦东新区 世纪大道１号", ("上海市", "上海市", "浦东新区", "世纪大道1号")),
    ],
)
def test_split(text, parts):
    split = split_address(text)
    assert (split.province, split.city, split.district, split.street) == parts
    assert not split.ambiguous


@pytest.mark.parametrize("text", ["朝阳区建国路", "西湖区文三路", "鼓楼区中山路1号"])
def test_a_district_found_in_several_cities_is_not_placed(text):
    split = split_address(text)
    assert split.ambiguous
    assert (split.province, split.city) == ("", "")
    assert split.district == text[:3]


def test_text_with_no_place_stays_as_street():
    split = split_address("随便写的地址")
    assert not split.found
    assert split.street == "随便写的地址"


def test_postcodes_of_cities():
    assert postcode_for("山东省", "济南市") == "250000"
    assert postcode_for("上海市", "上海市") == "200000"
    assert postcode_for("火星", "基地") == ""


def test_per_address_matching_agrees_with_cpca_transform():
    """geo calls cpca's per-address function rather than its pandas frame."""
    import cpca

    from clientbook.customers.geo import _cpca

    texts = [
        "上海市黄浦区南京东路1号",
        "杭州西湖区文三路",
        "朝阳区建国路",
        "随便写的地址",
        "",
        "广西南宁青秀区民族大道",
    ]
    frame = cpca.transform(texts, pos_sensitive=True)
    expected = [
        tuple(None if v != v else v for v in row)  # NaN → None
        for row in frame.itertuples(index=False)
    ]
    assert _cpca(texts) == expected


def test_answers_remembered_by_prefix_are_cpca_answers():
    """Addresses that begin alike are split from what cpca said about the
    first one: the result must be what cpca says about each."""
    import random

    import cpca
    from faker import Faker

    from clientbook.customers import geo

    fake, rng = Faker("zh_CN"), random.Random(3)
    fake.seed_instance(3)
    names = sorted(cpca.matcher.ac.keys())
    texts = [fake.address().replace(" ", "") for _ in range(2000)]
    texts += [
        "".join(rng.choice(names) for _ in range(rng.randrange(1, 4)))
        + rng.choice(["路1号", "", "区", "县城", "市"])
        for _ in range(2000)
    ]
    texts += [t[: rng.randrange(len(t) + 1)] for t in texts[:1000]]
    rng.shuffle(texts)
    fresh = geo._Prefixes()
    geo._prefixes, saved = fresh, geo._prefixes
    try:
        got = geo._cpca(texts)
    finally:
        geo._prefixes = saved
    expected = [
        tuple(map(cpca._get_one_addr(t, True, {}).get, geo._CPCA_COLUMNS))
        for t in texts
    ]
    assert got == expected
    assert fresh.rows  # the cache was used
