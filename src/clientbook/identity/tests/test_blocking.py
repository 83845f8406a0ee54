"""Blocking keys (which pairs are compared at all) and the clusters the
sure pairs make; no database needed."""

import duckdb

from clientbook.identity import matching
from clientbook.identity.services import _clusters

COLUMNS = (
    "unique_id BIGINT, name VARCHAR, name_pinyin VARCHAR, name_letters VARCHAR,"
    " name_first VARCHAR, name_last VARCHAR, birth_date VARCHAR, mobile VARCHAR,"
    " national_id VARCHAR, email_local VARCHAR, city VARCHAR, district VARCHAR,"
    " street VARCHAR, postcode VARCHAR"
)


def _table(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE customers_input ({COLUMNS})")
    con.executemany(
        f"INSERT INTO customers_input VALUES ({', '.join(['?'] * 14)})", rows
    )
    return con


def _wang(pk: int, birth: str, street: str) -> tuple:
    return (
        pk,
        "王伟",
        "wangwei",
        "aeginww",
        "王",
        "伟",
        birth,
        None,
        None,
        None,
        "上海",
        "徐汇",
        street,
        None,
    )


def _key(con, column: str, pk: int):
    return con.execute(
        f"SELECT {column} FROM customers_input WHERE unique_id = ?", [pk]
    ).fetchall()[0][0]


def test_a_block_over_the_cap_is_left_to_narrower_keys():
    # given: six 王伟, four born the same day, two others the same year
    rows = [_wang(i, "1960-01-01", f"{i}号") for i in range(1, 5)]
    rows += [
        _wang(5, "1990-05-01", "天钥桥路1号"),
        _wang(6, "1990-05-02", "天钥桥路1号"),
    ]
    con = _table(rows)

    # when: no block may hold more than three customers
    left_out = matching.add_block_keys(con, cap=3)

    # then: the four born the same day make blocks of four on the birth
    # keys, which join nothing; the two born in 1990 still pair
    assert left_out == {
        "block_letters_year": 4,
        "block_birth_first": 4,
        "block_birth_last": 4,
    }
    assert _key(con, "block_birth_first", 1) is None
    assert _key(con, "block_letters_year", 5) == _key(con, "block_letters_year", 6)
    assert _key(con, "block_letters_street", 5) == _key(con, "block_letters_street", 6)
    # keys with a cap of their own: six in one district, six of one name
    assert _key(con, "block_pinyin_place", 1) == _key(con, "block_pinyin_place", 6)
    # a key with a missing part is no key
    assert _key(con, "block_national_id", 1) is None


def test_a_name_alone_is_a_key_only_while_it_is_rare():
    # (the cap of the name alone is ten, whatever the run's cap)
    rare = _table([_wang(i, "1960-01-01", "1号") for i in range(1, 11)])
    common = _table([_wang(i, "1960-01-01", "1号") for i in range(1, 12)])

    assert "block_letters" not in matching.add_block_keys(rare, cap=1000)
    assert matching.add_block_keys(common, cap=1000)["block_letters"] == 11


def test_blocking_rules_are_the_block_keys():
    rules = matching.blocking_rules(["extra_loyalty"])
    columns = [k.column for k in matching.block_keys(["extra_loyalty"])]
    assert len(rules) == len(columns) == len(matching.BLOCK_KEYS) + 1
    assert columns[-1] == "block_extra_loyalty"


def test_chained_sure_pairs_make_one_cluster():
    # (a, b, index of the scored pair), surest first
    sure = [(1, 2, 0), (5, 6, 1), (2, 3, 2), (6, 7, 3), (3, 1, 4)]

    clusters, best = _clusters(sure)

    assert sorted(sorted(c) for c in clusters) == [[1, 2, 3], [5, 6, 7]]
    # each customer's surest pair names the evidence of its merge
    assert best == {1: 0, 2: 0, 5: 1, 6: 1, 3: 2, 7: 3}
