"""Believable customer profiles, drawn from a seeded random generator.

Plain Python without Django models, so the benchmark generator reuses it.
Every identifier is produced in its normalised stored form.
"""

import datetime as dt
import random
from dataclasses import dataclass, field

from faker import Faker
from stdnum.cn import ric

from clientbook.customers import normalise
from clientbook.customers.normalise import name_keys
from clientbook.demo import data


@dataclass
class Address:
    type: str
    province: str
    city: str
    district: str
    street: str
    postcode: str

    @property
    def raw(self) -> str:
        # Municipalities (上海市, 北京市…) are written once, not as province and city.
        city = "" if self.city == self.province else self.city
        return f"{self.province}{city}{self.district}{self.street}"


@dataclass
class Person:
    kind: str  # "individual" | "organisation"
    name: str
    name_pinyin: str
    name_initials: str
    branch_code: str
    city: str
    gender: str = ""
    birth_date: dt.date | None = None
    occupation: str = ""
    employer: str = ""
    position: str = ""
    income_band: str = ""
    addresses: list[Address] = field(default_factory=list)
    # type -> normalised value
    identifiers: dict[str, str] = field(default_factory=dict)


def _stored_as(type_: str):
    def valid(value: str) -> bool:
        try:
            return normalise.identifier(type_, value) == value
        except normalise.NormaliseError:
            return False

    return valid


class Unique:
    """Draws values until one not seen before comes up."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def take(self, draw, valid=None) -> str:
        for _ in range(1000):
            value = draw()
            if value not in self.seen and (valid is None or valid(value)):
                self.seen.add(value)
                return value
        raise RuntimeError("no unused value left")


class PersonMaker:
    """Makes people one by one; the same seed gives the same people."""

    def __init__(
        self, rng: random.Random, today: dt.date, *, check: bool = True
    ) -> None:
        self.rng = rng
        # Checking each phone number with libphonenumber costs ~30 µs; the
        # benchmark generator turns it off for millions of rows.
        self.check = check
        self.today = today
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(rng.getrandbits(32))
        self.mobiles = Unique()
        self.emails = Unique()
        self.national_ids = Unique()
        self._keys: dict[str, tuple[str, str]] = {}
        self._branches = [b for b in data.BRANCHES]
        self._branch_weights = [b.weight for b in data.BRANCHES]

    def keys(self, name: str) -> tuple[str, str]:
        # Names repeat a lot; pinyin conversion is the slow part.
        if name not in self._keys:
            self._keys[name] = name_keys(name)
        return self._keys[name]

    def person(self, *, organisation: bool = False) -> Person:
        rng = self.rng
        branch = rng.choices(self._branches, self._branch_weights)[0]
        city = branch.city or rng.choice(data.ONLINE_CITIES)
        if organisation:
            return self._organisation(branch.code, city)
        gender = rng.choice("MF")
        name = self.fake.name_male() if gender == "M" else self.fake.name_female()
        pinyin, initials = self.keys(name)
        occupation, income_weights = rng.choice(data.OCCUPATIONS)
        person = Person(
            kind="individual",
            name=name,
            name_pinyin=pinyin,
            name_initials=initials,
            branch_code=branch.code,
            city=city,
            gender=gender,
            birth_date=self._birth_date(occupation),
            occupation=occupation,
            income_band=rng.choices(data.INCOME_BANDS, income_weights)[0],
        )
        if occupation not in ("退休", "学生", "自由职业") and rng.random() < 0.6:
            person.employer = self.fake.company()
            person.position = rng.choice(data.POSITIONS)
        if rng.random() < 0.08:
            person.income_band = ""  # never asked
        if rng.random() < 0.88:
            person.addresses.append(self.address("home", city))
        if person.employer and rng.random() < 0.25:
            person.addresses.append(self.address("work", city))
        self._individual_identifiers(person)
        return person

    def _organisation(self, branch_code: str, city: str) -> Person:
        name = self.fake.company()
        pinyin, initials = self.keys(name)
        person = Person(
            kind="organisation",
            name=name,
            name_pinyin=pinyin,
            name_initials=initials,
            branch_code=branch_code,
            city=city,
            income_band="",
        )
        person.addresses.append(self.address("work", city))
        person.identifiers["landline"] = self.landline(city)
        if self.rng.random() < 0.7:
            person.identifiers["mobile"] = self.mobile()
        person.identifiers["email"] = self.emails.take(
            lambda: f"hr{self.rng.randint(1, 9999)}@{pinyin[:12] or 'corp'}.com.cn"
        )
        return person

    def _birth_date(self, occupation: str) -> dt.date:
        rng = self.rng
        if occupation == "学生":
            age = rng.randint(18, 24)
        elif occupation == "退休":
            age = rng.randint(58, 82)
        else:
            age = max(22, min(65, int(rng.gauss(40, 10))))
        born = self.today.replace(year=self.today.year - age, month=1, day=1)
        return born - dt.timedelta(days=rng.randint(0, 364))

    def _individual_identifiers(self, person: Person) -> None:
        rng = self.rng
        if rng.random() < 0.90:
            person.identifiers["mobile"] = self.mobile()
        home = next((a for a in person.addresses if a.type == "home"), None)
        if home is not None and rng.random() < 0.45:
            person.identifiers["national_id"] = self.national_id(
                home, person.birth_date, person.gender
            )
        if rng.random() < 0.50:
            person.identifiers["email"] = self.email(person.name_pinyin)
        if rng.random() < 0.30:
            person.identifiers["wechat"] = (
                f"wxid_{rng.getrandbits(48):012x}"
                if rng.random() < 0.5
                else f"{person.name_pinyin[:10]}{rng.randint(10, 9999)}"
            )

    def mobile(self) -> str:
        rng = self.rng
        return self.mobiles.take(
            lambda: (
                f"+86{rng.choice(data.MOBILE_PREFIXES)}{rng.randint(0, 10**8 - 1):08d}"
            ),
            _stored_as("mobile") if self.check else None,
        )

    def landline(self, city: str) -> str:
        # The big cities all have eight-digit local numbers now.
        area = data.CITIES[city].phone_area
        valid = _stored_as("landline") if self.check else None
        return Unique().take(
            lambda: (
                f"+86{area}{self.rng.randint(2, 8)}{self.rng.randint(0, 10**7 - 1):07d}"
            ),
            valid,
        )

    def email(self, pinyin: str) -> str:
        rng = self.rng

        def draw() -> str:
            domain = rng.choice(data.EMAIL_DOMAINS)
            if domain == "qq.com" and rng.random() < 0.6:
                return f"{rng.randint(10**7, 3 * 10**9)}@qq.com"
            local = pinyin[:16] or "user"
            return f"{local}{rng.randint(1, 9999)}@{domain}"

        return self.emails.take(draw)

    def national_id(self, home: Address, birth: dt.date, gender: str) -> str:
        code = next(
            d.code
            for d in data.CITIES[self._city_of(home)].districts
            if d.name == home.district
        )

        def draw() -> str:
            sequence = self.rng.randint(0, 99) * 10 + self.rng.choice(
                (1, 3, 5, 7, 9) if gender == "M" else (0, 2, 4, 6, 8)
            )
            body = f"{code}{birth:%Y%m%d}{sequence:03d}"
            return body + ric.calc_check_digit(body + "0")

        return self.national_ids.take(draw)

    @staticmethod
    def _city_of(address: Address) -> str:
        return next(k for k, c in data.CITIES.items() if c.name == address.city)

    def address(self, type_: str, city_key: str) -> Address:
        rng = self.rng
        city = data.CITIES[city_key]
        district = rng.choice(city.districts)
        road = rng.choice(data.ROADS)
        if type_ == "home":
            street = (
                f"{road}{rng.randint(1, 999)}号{rng.choice(data.ESTATES)}"
                f"{rng.randint(1, 30)}栋{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
            )
        else:
            street = f"{road}{rng.randint(1, 999)}号{rng.randint(2, 28)}楼"
        return Address(
            type=type_,
            province=city.province,
            city=city.name,
            district=district.name,
            street=street,
            postcode=district.postcode,
        )
