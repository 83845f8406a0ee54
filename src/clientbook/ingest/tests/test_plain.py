"""Plain rows parsed the short way (`ingest/plain.py`) give what the long way
gives, row by row: the same keys, identifiers, content hash and staging row;
rows it cannot take go the long way and keep their errors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clientbook.ingest import staging
from clientbook.ingest.plain import Plain
from clientbook.ingest.rows import CustomerRecord, RowParser, Staged

MAPPING = {
    "姓名": "name",
    "性别": "gender",
    "生日": "birth_date",
    "手机": "mobile",
    "电话": "phone",
    "身份证号": "national_id",
    "邮箱": "email",
    "地址": "address",
    "职业": "occupation",
    "会员卡号": "membership",
    "备注": "notes",
    "没用": "",
}

PLAIN = {"姓名": "张三", "手机": "13800138000", "地址": "上海市黄浦区南京东路1号"}
ROWS = [
    PLAIN,
    {**PLAIN, "手机": "１３８ ００１３ ８０００", "姓名": "张　三"},
    {**PLAIN, "手机": "+86 138-0013-8001", "电话": "010-12345678"},
    {**PLAIN, "电话": "13800138000"},  # the mobile twice: the long way
    {**PLAIN, "身份证号": "110105850302001"},  # 15 digits
    {**PLAIN, "身份证号": "110105198503020011", "生日": "1985/3/2", "性别": "男"},
    {**PLAIN, "身份证号": "110105198503020011", "生日": "1985-03-03"},  # conflict
    {**PLAIN, "身份证号": "110105198503020011", "性别": "女"},  # conflict
    {**PLAIN, "身份证号": "110105198503020012"},  # wrong check digit
    {**PLAIN, "姓名": ""},
    {**PLAIN, "姓名": "   "},
    {**PLAIN, "地址": "朝阳区建国路1号"},  # in two cities: not placed
    {**PLAIN, "地址": "建国路1号"},
    {**PLAIN, "地址": "浙江省杭州市西湖区" + "文三路" * 120},
    {**PLAIN, "地址": ""},
    {**PLAIN, "邮箱": "QQ@EXAMPLE.COM"},
    {**PLAIN, "邮箱": "not an email"},
    {**PLAIN, "职业": "工程师" * 50, "备注": 'say "hi"\tC:\\dir'},
    {**PLAIN, "姓名": "John  Smith", "会员卡号": "Ｍ００１"},
    {**PLAIN, "生日": "明年"},
    {**PLAIN, "性别": "未知"},
    {**PLAIN, "手机": "12345"},
    {"姓名": "李四", "没用": "x"},
    {"姓名": "王五", "生日": "20240720", "邮箱": "a.b+c@example.com"},
    {**PLAIN, "姓名": "张\x00三"},  # a NUL: no database stores it
    {**PLAIN, "地址": "上海市\ud800"},  # half a surrogate pair: nor this
]


def parser(plain: bool) -> RowParser:
    return RowParser(
        MAPPING,
        branches={},
        custom_fields={},
        stage=staging.line,
        plain=Plain.of(MAPPING) if plain else None,
    )


def what(record) -> tuple:
    """What the importer reads of a parsed row (a staging row less its
    UUID, which is new each time)."""
    if type(record) is Staged:
        _uuid, line = record.staged.split("\t", 1)
        return (
            record.row_number,
            record.source_key(),
            record.hard_identifiers,
            record.content_hash(),
            record.branch_id,
            line,
        )
    assert type(record) is CustomerRecord
    return (record.row_number, record.errors, record.content_hash(), record.staged)


def test_the_short_way_gives_what_the_long_way_gives():
    rows = list(enumerate(ROWS, start=1))
    short = parser(True).chunk(rows)
    assert [what(r) for r in short] == [what(r) for r in parser(False).chunk(rows)]
    # and it took every row but those a plain new customer cannot be made of
    long_way = [r.row_number for r in short if type(r) is not Staged]
    assert long_way == [4, 7, 8, 9, 10, 11, 17, 20, 22, 25, 26]
    assert [r.row_number for r in short] == list(range(1, len(ROWS) + 1))


CELLS = {
    "姓名": ["张三", "欧阳娜娜", "John Smith", "", " 李 四 ", "Ｊｏｈｎ", 'O"Brien'],
    "性别": ["", "男", "女", "M", "f", "未知", "x"],
    "生日": ["", "1985-03-02", "1985/3/2", "1985年3月2日", "19850302", "33000", "x"],
    "手机": ["", "13800138000", "+86 139 0013 9000", "０１３８", "12345"],
    "电话": ["", "010-12345678", "13800138000", "13700137000", "999"],
    "身份证号": ["", "110105198503020011", "110105850302001", "11010519850302001X"],
    "邮箱": ["", "a@example.com", "A@Example.COM", "a@", "x y@example.com"],
    "地址": ["", "上海市黄浦区南京东路1号", "朝阳区建国路1号", "南京路", "北京市"],
    "职业": ["", "工程师", "x" * 120, "a\\b"],
    "会员卡号": ["", "M001", "Ｍ００２", "\\N"],
    "备注": ["", "tab\there", "new\nline", "完"],
}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                c: st.one_of(st.sampled_from(v), st.text(max_size=8))
                for c, v in CELLS.items()
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_drawn_rows_read_the_same_both_ways(drawn):
    rows = list(enumerate(drawn, start=1))
    short = [what(r) for r in parser(True).chunk(rows)]
    assert short == [what(r) for r in parser(False).chunk(rows)]


@pytest.mark.parametrize(
    "mapping",
    [
        {"姓名": "name", "标签": "tags"},
        {"姓名": "name", "省": "province"},
        {"手机": "mobile"},
        {"姓名": "name", "编号": "external_id"},
    ],
)
def test_a_mapping_with_more_than_plain_targets_takes_the_long_way(mapping):
    assert Plain.of(mapping) is None


def test_whole_records_are_sent_when_the_importer_asks_for_them():
    # given: a parser whose importer needed most rows whole
    plain = parser(True)
    plain.needed(9, 10)
    # when: a chunk is parsed
    records = plain.chunk([(1, PLAIN)])
    # then: the record is whole, as without the short way
    assert type(records[0]) is CustomerRecord and records[0].staged
