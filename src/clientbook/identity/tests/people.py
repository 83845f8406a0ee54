"""Chinese customers with realistic second records of the same person.

Seeded, so a test sees the same people every time. The variants are what
real files hold: a homophone or a typo in the name, the two given-name
characters swapped, the name only in pinyin ("Zhang San" for 张三), the old
15-digit national ID, another way of writing the phone number, 上海市 as 上海,
the district left out, a missing birth date.
"""

import random
from dataclasses import dataclass, replace

from faker import Faker
from pypinyin import Style, lazy_pinyin

from clientbook.customers import normalise

# Characters that sound alike in given names (同音字), both ways.
HOMOPHONES = {
    a: b
    for x, y in [
        ("伟", "玮"),
        ("芳", "方"),
        ("娜", "纳"),
        ("敏", "民"),
        ("静", "晶"),
        ("丽", "莉"),
        ("强", "蔷"),
        ("磊", "垒"),
        ("军", "君"),
        ("洋", "阳"),
        ("勇", "永"),
        ("艳", "燕"),
        ("杰", "洁"),
        ("涛", "滔"),
        ("明", "鸣"),
        ("超", "潮"),
        ("霞", "侠"),
        ("平", "萍"),
        ("刚", "钢"),
        ("桂英", "桂莹"),
    ]
    for a, b in ((x, y), (y, x))
}
TYPOS = "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后"
CITIES = [
    ("上海市", "上海市", ["黄浦区", "徐汇区", "静安区", "浦东新区", "闵行区"]),
    ("北京市", "北京市", ["东城区", "西城区", "朝阳区", "海淀区", "丰台区"]),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区", "白云区"]),
    ("浙江省", "杭州市", ["西湖区", "上城区", "拱墅区", "滨江区"]),
    ("江苏省", "南京市", ["玄武区", "秦淮区", "鼓楼区", "建邺区"]),
]


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    birth_date: str
    national_id: str
    mobile: str
    email: str
    province: str
    city: str
    district: str
    street: str

    def row(self) -> list[str]:
        return [
            self.key,
            self.name,
            self.birth_date,
            self.national_id,
            self.mobile,
            self.email,
            self.province,
            self.city,
            self.district,
            self.street,
        ]


HEADERS = ["编号", "姓名", "生日", "身份证号", "手机", "邮箱", "省", "市", "区", "地址"]
MAPPING = {
    "编号": "external_id",
    "姓名": "name",
    "生日": "birth_date",
    "身份证号": "national_id",
    "手机": "mobile",
    "邮箱": "email",
    "省": "province",
    "市": "city",
    "区": "district",
    "地址": "street",
}


def _valid_mobile(number: str) -> bool:
    try:
        return normalise.phone(number)[1] == "mobile"
    except normalise.NormaliseError:
        return False


def people(count: int, *, seed: int = 7) -> list[Person]:
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rnd = random.Random(seed)
    found, mobiles, nids = [], set(), set()
    while len(found) < count:
        nid = fake.ssn(min_age=18, max_age=80)
        mobile = fake.phone_number()
        # Both are hard identifiers: one holder each (Faker repeats itself
        # in a million people). Faker also draws from prefixes the numbering
        # plan has since withdrawn (149 in phonenumbers 9): those are left out.
        if mobile in mobiles or nid in nids or nid[6:8] != "19":
            continue
        if not _valid_mobile(mobile):
            continue
        mobiles.add(mobile)
        nids.add(nid)
        province, city, districts = rnd.choice(CITIES)
        name = fake.name()
        found.append(
            Person(
                key=f"P{len(found):05d}",
                name=name,
                birth_date=normalise.national_id(nid).birth_date.isoformat(),
                national_id=nid if rnd.random() < 0.7 else "",
                mobile=mobile,
                email=(
                    f"{''.join(lazy_pinyin(name))}{rnd.randint(1, 999)}@"
                    f"{rnd.choice(['qq.com', '163.com', '126.com'])}"
                    if rnd.random() < 0.5
                    else ""
                ),
                province=province,
                city=city,
                district=rnd.choice(districts),
                street=fake.street_address(),
            )
        )
    return found


def _pinyin_name(name: str) -> str:
    syllables = lazy_pinyin(name, style=Style.NORMAL)
    return " ".join([syllables[0].capitalize(), "".join(syllables[1:]).capitalize()])


def _name_variant(name: str, rnd: random.Random) -> str:
    roll = rnd.random()
    given = name[1:]
    if roll < 0.25:
        return _pinyin_name(name)
    if roll < 0.5:
        for a, b in HOMOPHONES.items():
            if a in given:
                return name[0] + given.replace(a, b, 1)
    if roll < 0.65 and len(given) == 2:
        return name[0] + given[::-1]
    if roll < 0.8:
        i = rnd.randrange(1, len(name))
        return name[:i] + rnd.choice(TYPOS) + name[i + 1 :]
    return name


def _phone_variant(mobile: str, rnd: random.Random) -> str:
    roll = rnd.random()
    if roll < 0.3:
        return f"+86 {mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    if roll < 0.5:
        return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if roll < 0.8:
        return ""  # not given this time
    # a new number: the person changed phones
    return mobile[:3] + "".join(rnd.choice("0123456789") for _ in range(8))


def _id_variant(nid: str, rnd: random.Random) -> str:
    if not nid:
        return ""
    roll = rnd.random()
    if roll < 0.35:
        return nid[:6] + nid[8:17]  # the 15-digit form
    if roll < 0.7:
        return ""
    return nid


def variant(person: Person, key: str, rnd: random.Random) -> Person:
    """A second record of the same person, as another channel wrote it."""
    birth = person.birth_date
    roll = rnd.random()
    if roll < 0.15:
        birth = ""
    elif roll < 0.25:
        birth = birth[:-1] + str((int(birth[-1]) + 1) % 10)
        try:
            normalise.date_value(birth)
        except normalise.NormaliseError:
            birth = person.birth_date
    return replace(
        person,
        key=key,
        name=_name_variant(person.name, rnd),
        birth_date=birth,
        national_id=_id_variant(person.national_id, rnd),
        mobile=_phone_variant(person.mobile, rnd),
        email=person.email if rnd.random() < 0.5 else "",
        province=person.province.removesuffix("市").removesuffix("省")
        if rnd.random() < 0.5
        else person.province,
        city=person.city.removesuffix("市") if rnd.random() < 0.5 else person.city,
        district="" if rnd.random() < 0.3 else person.district,
        street=person.street if rnd.random() < 0.8 else person.street[:-1],
    )
