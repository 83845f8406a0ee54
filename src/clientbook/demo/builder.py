"""Loads the demo company into the database.

The set-up rows (sources, branches, staff) go through the services; the
thousands of customer rows are planned in plain Python and written with
`bulk_create`, keeping the invariants the services keep: normalised names
with their pinyin keys, normalised identifiers unique among live customers,
order totals equal to the sums of their lines. The whole load is one
transaction, and a marker audit entry makes a second run a no-op.
"""

import contextlib
import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TextIO

from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.utils import timezone
from faker import Faker

from clientbook.activity.models import Interaction
from clientbook.customers.models import (
    Address,
    Customer,
    CustomField,
    CustomFieldValue,
    Identifier,
    KeyDate,
    Preference,
    Tag,
)
from clientbook.demo import campaigns as demo_campaigns
from clientbook.demo import data
from clientbook.demo.history import SHANGHAI, Calendar, HistoryMaker, Purchase
from clientbook.demo.people import Person, PersonMaker, Unique
from clientbook.demo.progress import Progress
from clientbook.org.models import Branch, Role, User
from clientbook.org.services import branch_create, role_groups_sync, staff_create
from clientbook.privacy.models import AuditEntry, Consent, Source
from clientbook.privacy.services import source_create
from clientbook.sales.models import Order, OrderLine, Product

DEFAULT_SEED = 20261123
DEFAULT_CUSTOMERS = 5000
YEARS = 3
BATCH = 1000
CENT = Decimal("0.01")
HARD_TYPES = {"national_id", "mobile", "email", "membership"}


class DemoConflict(Exception):
    """The database holds rows the demo would clash with."""


@dataclass
class Summary:
    created: bool  # False: the demo was there already
    counts: dict[str, int]
    seconds: float = 0.0
    username: str = data.ADMIN_USERNAME
    password: str = data.PASSWORD
    branch_username: str = data.BRANCH_STAFF_USERNAME


def is_loaded() -> bool:
    return AuditEntry.objects.filter(entity="demo", action="demo.load").exists()


def counts() -> dict[str, int]:
    tables = {
        "branches": Branch,
        "staff": User,
        "sources": Source,
        "products": Product,
        "customers": Customer,
        "identifiers": Identifier,
        "addresses": Address,
        "preferences": Preference,
        "key_dates": KeyDate,
        "consents": Consent,
        "orders": Order,
        "order_lines": OrderLine,
        "interactions": Interaction,
    }
    return {name: model.objects.count() for name, model in tables.items()}


def build(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    stdout: TextIO | None = None,
    progress: TextIO | None = None,
    today: dt.date | None = None,
) -> Summary:
    """Loads the demo company with about `customers` customers, unless it is
    loaded already. The same seed gives the same people and purchases.

    Args:
        stdout: where to write what was done (None: nowhere).
        progress: where to draw progress bars (None: nowhere).
        today: the last day of the three years of history (default: today).
    """
    started = time.monotonic()
    if is_loaded():
        return Summary(created=False, counts=counts())
    with transaction.atomic():
        _ensure_free()
        loader = Loader(
            customers=customers,
            seed=seed,
            today=today or timezone.localdate(),
            progress=progress,
        )
        loader.run()
    summary = Summary(created=True, counts=counts(), seconds=time.monotonic() - started)
    if stdout is not None:
        for name, count in summary.counts.items():
            stdout.write(f"  {name:<14} {count:>9,}\n")
    return summary


def _ensure_free() -> None:
    codes = [b.code for b in data.BRANCHES]
    taken = list(Branch.objects.filter(code__in=codes).values_list("code", flat=True))
    if taken or User.objects.filter(username=data.ADMIN_USERNAME).exists():
        raise DemoConflict(
            "This database already has branches or staff the demo would create "
            f"({', '.join(taken) or data.ADMIN_USERNAME}); load the demo into "
            "an empty database."
        )


@contextlib.contextmanager
def given_times(*model_classes: type[models.Model]):
    """Lets bulk_create keep the created/updated times the demo gives, which
    `auto_now_add` / `auto_now` would overwrite with the time of the load."""
    patched = []
    for model in model_classes:
        for f in model._meta.concrete_fields:
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                patched.append((f, f.auto_now, f.auto_now_add))
                f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in patched:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


@dataclass
class Plan:
    """Everything the demo says about one customer before it is written."""

    person: Person
    source: str
    joined_at: dt.datetime
    purchases: list[Purchase]
    uuid: uuid.UUID
    stage: str = "prospect"
    archived_at: dt.datetime | None = None
    membership: str = ""
    revenue: Decimal = Decimal(0)
    tags: list[str] = field(default_factory=list)
    pk: int | None = None

    @property
    def last_seen(self) -> dt.datetime:
        return self.purchases[-1].at if self.purchases else self.joined_at


class Loader:
    def __init__(
        self,
        *,
        customers: int,
        seed: int,
        today: dt.date,
        progress: TextIO | None,
    ) -> None:
        self.count = customers
        self.seed = seed
        self.rng = random.Random(seed)
        self.today = today
        self.last_day = today - dt.timedelta(days=1)
        self.first_day = today - dt.timedelta(days=round(365.25 * YEARS))
        self.now = min(
            timezone.now(),
            dt.datetime.combine(today, dt.time(8), tzinfo=SHANGHAI),
        )
        self.stream = progress
        self.people = PersonMaker(self.rng, today)
        self.calendar = Calendar(self.first_day, self.last_day)
        self.history = HistoryMaker(self.rng, self.calendar, data.catalogue())
        self.order_seq = 0
        self.memberships = Unique()

    def bar(self, label: str, total: int) -> Progress:
        return Progress(label, total, stream=self.stream)

    def run(self) -> None:
        self.sources = self._sources()
        self.branches = self._branches()
        self.staff = self._staff()
        self.products = self._products()
        self.fields = self._custom_fields()
        self.tags = {
            name: Tag.objects.get_or_create(name=name)[0] for name in data.TAGS
        }
        plans = self._plans()
        self._write_customers(plans)
        self._write_details(plans)
        self._write_orders(plans)
        self._write_interactions(plans)
        self._audit(plans)
        demo_campaigns.load(seed=self.seed, today=self.today)

    # Set-up rows, through the services --------------------------------------

    def _sources(self) -> dict[str, Source]:
        return {
            s.code: source_create(
                code=s.code,
                name=s.name,
                kind=s.kind,
                legal_basis=s.legal_basis,
                trust=s.trust,
                description=f"{data.COMPANY}演示数据",
            )
            for s in data.SOURCES
        }

    def _branches(self) -> dict[str, Branch]:
        result = {}
        for info in data.BRANCHES:
            region = data.CITIES[info.city].region if info.city else "线上"
            result[info.code] = branch_create(
                code=info.code, name=info.name, region=region, address=info.address
            )
        return result

    def _staff(self) -> dict[str, list[User]]:
        """Staff of every role. Every demo login shares one password, hashed
        once: hashing it per user would take most of a small demo's time."""
        role_groups_sync()
        # A Faker of their own, so the customers do not depend on the staff.
        fake = Faker("zh_CN")
        fake.seed_instance(self.seed)
        password = make_password(data.PASSWORD)
        people = [
            (data.ADMIN_USERNAME, Role.ADMIN, None),
            ("auditor", Role.AUDITOR, None),
            ("marketing", Role.MARKETER, None),
            ("analyst", Role.MARKETER, None),
        ]
        regions = {}
        for info in data.BRANCHES:
            region = data.CITIES[info.city].region if info.city else "online"
            regions.setdefault(region, info.code)
        for number, code in enumerate(regions.values(), start=1):
            people.append((f"manager{number}", Role.MANAGER, code))
        for info in data.BRANCHES:
            for number in (1, 2, 3):
                name = f"{info.code.lower()}-{'staff' if number == 1 else number}"
                people.append((name, Role.BRANCH_STAFF, info.code))
        by_branch: dict[str, list[User]] = {}
        for username, role, code in people:
            surname = fake.last_name()
            user = staff_create(
                username=username,
                password=None,
                role=role,
                branch=self.branches[code] if code else None,
                last_name=surname,
                first_name=fake.first_name(),
                email=f"{username}@mingkang.example.cn",
            )
            user.password = password
            user.save(update_fields=["password"])
            if role == Role.BRANCH_STAFF:
                by_branch.setdefault(code, []).append(user)
        return by_branch

    def _products(self) -> dict[str, Product]:
        rows = [
            Product(
                sku=p.sku,
                name=p.name,
                category=p.category,
                price=p.price,
                unit_cost=p.unit_cost,
            )
            for p in data.catalogue()
        ]
        Product.objects.bulk_create(rows)
        return {p.sku: p for p in Product.objects.filter(sku__in=[r.sku for r in rows])}

    def _custom_fields(self) -> dict[str, CustomField]:
        result = {}
        for position, (key, label, kind, type_, choices) in enumerate(
            data.CUSTOM_FIELDS
        ):
            field_, _ = CustomField.objects.get_or_create(
                customer_kind=kind,
                key=key,
                defaults={
                    "label": label,
                    "field_type": type_,
                    "choices": choices,
                    "position": position,
                },
            )
            result[key] = field_
        return result

    # Planning, in plain Python ------------------------------------------------

    def _plans(self) -> list[Plan]:
        plans = []
        with self.bar("planning", self.count) as bar:
            for _ in range(self.count):
                plans.append(self._plan())
                bar.advance()
        return plans

    def _plan(self) -> Plan:
        rng = self.rng
        organisation = rng.random() < 0.02
        person = self.people.person(organisation=organisation)
        prospect = not organisation and rng.random() < 0.10
        existing = rng.random() < 0.25
        start = self.history.join_position(existing=existing)
        if prospect:
            purchases = []
        elif organisation:
            purchases = self.history.organisation_purchases(person.branch_code, start)
        else:
            habits = self.history.habits(person.income_band)
            purchases = self.history.purchases(habits, person.branch_code, start)
        purchases = self._with_returns(purchases)
        joined_at = self._joined_at(purchases, existing, start)
        plan = Plan(
            person=person,
            source=self._first_source(person, prospect, bool(purchases)),
            joined_at=joined_at,
            purchases=purchases,
            uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
        )
        plan.revenue = sum((p.amount for p in purchases), Decimal(0))
        self._stage(plan)
        self._membership(plan)
        plan.tags = self._tags(plan)
        return plan

    def _with_returns(self, purchases: list[Purchase]) -> list[Purchase]:
        result = []
        for purchase in purchases:
            result.append(purchase)
            back = self.history.maybe_return(purchase, self.last_day)
            if back is not None:
                result.append(back)
        result.sort(key=lambda p: p.at)
        return result

    def _joined_at(self, purchases, existing: bool, start: float) -> dt.datetime:
        rng = self.rng
        if existing:
            first = dt.datetime.combine(self.first_day, dt.time(10), tzinfo=SHANGHAI)
            return first - dt.timedelta(days=rng.randint(30, 1500))
        if purchases:
            return purchases[0].at - dt.timedelta(minutes=rng.randint(1, 30))
        day = self.calendar.day_at(start)
        return dt.datetime.combine(
            day, dt.time(rng.randint(9, 20), rng.randint(0, 59)), tzinfo=SHANGHAI
        )

    def _first_source(self, person: Person, prospect: bool, bought: bool) -> str:
        rng = self.rng
        if person.kind == "organisation":
            return rng.choice(("business-registry", "staff-entry", "tea-fair"))
        if prospect or not bought:
            return rng.choice(
                ("tea-fair", "purchased-list", "partner-bank", "mini-program")
            )
        if person.branch_code == data.ONLINE_BRANCH:
            return rng.choice(("mini-program", "open-api"))
        return rng.choices(
            ("member-signup", "pos", "call-centre", "tea-fair"), (5, 3, 1, 1)
        )[0]

    def _stage(self, plan: Plan) -> None:
        bought = [p for p in plan.purchases if not p.is_return]
        if not bought:
            plan.stage = "prospect"
            return
        last = bought[-1].at.date()
        plan.stage = "active" if (self.today - last).days <= 180 else "lapsed"
        if (self.today - last).days > 700 and self.rng.random() < 0.08:
            plan.stage = "archived"
            plan.archived_at = dt.datetime.combine(
                last + dt.timedelta(days=self.rng.randint(365, 600)),
                dt.time(11),
                tzinfo=SHANGHAI,
            )

    def _membership(self, plan: Plan) -> None:
        bought = len(plan.purchases)
        if plan.person.kind != "individual" or not bought:
            return
        if plan.source == "member-signup" or (bought >= 2 and self.rng.random() < 0.5):
            plan.membership = self.memberships.take(
                lambda: f"MK{self.rng.randint(1, 10**8 - 1):08d}"
            )

    def _tags(self, plan: Plan) -> list[str]:
        rng = self.rng
        tags = []
        skus = [ln.sku for p in plan.purchases for ln in p.lines]
        if plan.revenue >= 10000:
            tags.append("VIP")
        if plan.person.kind == "organisation":
            tags.append("企业客户")
        if sum(s.startswith("GIFT") for s in skus) >= 2:
            tags.append("送礼客户")
        if "SRV-001" in skus:
            tags.append("茶艺课学员")
        online = sum(p.channel == "online" for p in plan.purchases)
        if online >= 3 and online > 0.6 * len(plan.purchases):
            tags.append("线上活跃")
        for name, chance in (
            ("素食", 0.04),
            ("养生爱好者", 0.08),
            ("老客户推荐", 0.06),
        ):
            if rng.random() < chance:
                tags.append(name)
        if len(plan.purchases) >= 4 and rng.random() < 0.1:
            tags.append("价格敏感")
        return tags

    # Writing ------------------------------------------------------------------

    def _write_customers(self, plans: list[Plan]) -> None:
        with self.bar("customers", len(plans)) as bar, given_times(Customer):
            for chunk in _chunks(plans, BATCH):
                rows = [self._customer(plan) for plan in chunk]
                Customer.objects.bulk_create(rows)
                for plan, row in zip(chunk, rows, strict=True):
                    plan.pk = row.pk
                bar.advance(len(chunk))

    def _customer(self, plan: Plan) -> Customer:
        person = plan.person
        owners = self.staff[person.branch_code]
        return Customer(
            uuid=plan.uuid,
            kind=person.kind,
            name=person.name,
            name_pinyin=person.name_pinyin,
            name_initials=person.name_initials,
            gender=person.gender,
            birth_date=person.birth_date,
            occupation=person.occupation,
            employer=person.employer,
            position=person.position,
            income_band=person.income_band,
            lifecycle_stage=plan.stage,
            branch=self.branches[person.branch_code],
            owner=self.rng.choice(owners) if self.rng.random() < 0.7 else None,
            source=self.sources[plan.source],
            created_at=plan.joined_at,
            updated_at=max(plan.last_seen, plan.archived_at or plan.joined_at),
            archived_at=plan.archived_at,
        )

    def _write_details(self, plans: list[Plan]) -> None:
        with self.bar("profiles", len(plans)) as bar, given_times(Address, Consent):
            for chunk in _chunks(plans, BATCH):
                rows: dict[type, list] = {}
                for plan in chunk:
                    for row in self._details(plan):
                        rows.setdefault(type(row), []).append(row)
                for model, items in rows.items():
                    model.objects.bulk_create(items, batch_size=BATCH)
                bar.advance(len(chunk))

    def _details(self, plan: Plan):
        yield from self._identifiers(plan)
        yield from self._addresses(plan)
        yield from self._preferences(plan)
        yield from self._key_dates(plan)
        yield from self._consents(plan)
        yield from self._custom_values(plan)
        through = Customer.tags.through
        for name in plan.tags:
            yield through(customer_id=plan.pk, tag_id=self.tags[name].pk)

    def _identifiers(self, plan: Plan):
        values = dict(plan.person.identifiers)
        if plan.membership:
            values["membership"] = plan.membership
        source = self.sources[plan.source]
        for type_, value in values.items():
            verified = type_ in ("national_id", "membership") or (
                type_ == "mobile" and self.rng.random() < 0.6
            )
            yield Identifier(
                customer_id=plan.pk,
                type=type_,
                value=value,
                is_live=plan.archived_at is None,
                is_verified=verified,
                source=source,
                first_seen=plan.joined_at,
                last_seen=plan.last_seen,
            )

    def _addresses(self, plan: Plan):
        for address in plan.person.addresses:
            yield Address(
                customer_id=plan.pk,
                type=address.type,
                province=address.province,
                city=address.city,
                district=address.district,
                street=address.street,
                postcode=address.postcode,
                raw=address.raw,
                is_valid=self.rng.random() > 0.03,
                source=self.sources[plan.source],
                created_at=plan.joined_at,
                updated_at=plan.joined_at,
            )

    def _preferences(self, plan: Plan):
        rng = self.rng
        if plan.person.kind != "individual" or rng.random() > 0.45:
            return
        for category, key, values in rng.sample(data.PREFERENCES, rng.randint(1, 3)):
            yield Preference(
                customer_id=plan.pk,
                category=category,
                key=key,
                value=rng.choice(values),
                source=self.sources[rng.choice(("staff-entry", "member-signup"))],
            )

    def _key_dates(self, plan: Plan):
        rng = self.rng
        person = plan.person
        source = self.sources[plan.source]
        if person.birth_date:
            yield KeyDate(
                customer_id=plan.pk,
                kind="birthday",
                date=person.birth_date,
                label="生日",
                source=source,
            )
        if person.kind == "individual" and rng.random() < 0.08:
            years = rng.randint(1, 30)
            day = self.today - dt.timedelta(days=365 * years + rng.randint(0, 364))
            yield KeyDate(
                customer_id=plan.pk,
                kind="anniversary",
                date=day,
                label="结婚纪念日",
                source=self.sources["staff-entry"],
            )
        if person.kind == "organisation" and rng.random() < 0.5:
            yield KeyDate(
                customer_id=plan.pk,
                kind="renewal",
                date=self.today + dt.timedelta(days=rng.randint(10, 360)),
                label="年度团购协议续签",
                source=self.sources["staff-entry"],
            )

    def _consents(self, plan: Plan):
        """Consents given when the customer was captured, some withdrawn later:
        the ledger keeps both entries, the later one is the current state."""
        rng = self.rng
        ids = plan.person.identifiers
        source = plan.source
        evidence = {
            "member-signup": "会员注册表签字",
            "mini-program": "小程序勾选同意隐私政策",
            "open-api": "电商平台授权",
            "tea-fair": "品鉴会登记表",
            "purchased-list": "名单供应商提供的同意记录",
            "partner-bank": "银行积分兑换授权书",
            "call-centre": "通话录音",
            "business-registry": "商务洽谈确认邮件",
        }.get(source, "收银台口头同意,店员记录")
        grants = []
        if "mobile" in ids:
            grants.append(("sms", "service", 0.95))
            grants.append(("sms", "marketing", 0.7))
            grants.append(("phone", "marketing", 0.35))
        if "email" in ids:
            grants.append(("email", "marketing", 0.55))
        if plan.person.addresses:
            grants.append(("mail", "marketing", 0.3))
        if plan.person.kind == "organisation":
            grants.append(("visit", "marketing", 0.9))
        for channel, purpose, chance in grants:
            if rng.random() >= chance:
                continue
            at = plan.joined_at + dt.timedelta(minutes=rng.randint(0, 10))
            yield self._consent(plan, channel, purpose, "granted", source, at, evidence)
            if purpose == "marketing" and rng.random() < 0.12:
                later = at + dt.timedelta(days=rng.randint(20, 700))
                if later < self.now:
                    how = rng.choice(
                        (
                            ("call-centre", "客服电话要求不再推送"),
                            ("mini-program", "短信回复TD退订"),
                        )
                    )
                    yield self._consent(
                        plan, channel, purpose, "withdrawn", how[0], later, how[1]
                    )

    def _consent(self, plan, channel, purpose, status, source, at, evidence):
        return Consent(
            customer_id=plan.pk,
            channel=channel,
            purpose=purpose,
            status=status,
            occurred_at=at,
            source=self.sources[source],
            evidence=evidence,
            recorded_at=at,
        )

    def _custom_values(self, plan: Plan):
        rng = self.rng
        if plan.person.kind == "individual":
            if plan.membership:
                yield CustomFieldValue(
                    customer_id=plan.pk,
                    field=self.fields["member_level"],
                    value_text=data.member_level(float(plan.revenue)),
                )
            if plan.purchases and rng.random() < 0.3:
                yield CustomFieldValue(
                    customer_id=plan.pk,
                    field=self.fields["tea_years"],
                    value_integer=rng.randint(1, 30),
                )
            return
        yield CustomFieldValue(
            customer_id=plan.pk,
            field=self.fields["company_size"],
            value_text=rng.choice(("小微", "中型", "中型", "大型")),
        )
        yield CustomFieldValue(
            customer_id=plan.pk,
            field=self.fields["gift_budget"],
            value_decimal=Decimal(rng.randint(2, 60) * 5000),
        )

    def _write_orders(self, plans: list[Plan]) -> None:
        total = sum(len(p.purchases) for p in plans)
        with self.bar("orders", total) as bar, given_times(Order):
            pending: list[tuple[Order, list[OrderLine]]] = []
            for plan in plans:
                for purchase in plan.purchases:
                    pending.append(self._order(plan, purchase))
                if len(pending) >= 2000:
                    self._save_orders(pending)
                    bar.advance(len(pending))
                    pending = []
            self._save_orders(pending)
            bar.advance(len(pending))

    def _order(self, plan: Plan, purchase: Purchase) -> tuple[Order, list[OrderLine]]:
        self.order_seq += 1
        prefix = "RT" if purchase.is_return else "SO"
        lines = [
            OrderLine(
                product=self.products[line.sku],
                quantity=Decimal(line.quantity),
                unit_price=line.unit_price,
                amount=line.amount.quantize(CENT),
                cost=line.cost.quantize(CENT),
            )
            for line in purchase.lines
        ]
        source = {"store": "pos", "online": "open-api", "phone": "call-centre"}
        seller = None
        if purchase.channel != "online":
            seller = self.rng.choice(self.staff[purchase.branch_code])
        order = Order(
            number=f"{prefix}{purchase.at:%Y%m%d}{self.order_seq:07d}",
            customer_id=plan.pk,
            branch=self.branches[purchase.branch_code],
            salesperson=seller,
            channel=purchase.channel,
            ordered_at=purchase.at,
            amount=sum((ln.amount for ln in lines), Decimal(0)),
            cost=sum((ln.cost for ln in lines), Decimal(0)),
            source=self.sources[source[purchase.channel]],
            created_at=purchase.at,
        )
        return order, lines

    @staticmethod
    def _save_orders(pending: list[tuple[Order, list[OrderLine]]]) -> None:
        if not pending:
            return
        Order.objects.bulk_create([order for order, _ in pending])
        lines = []
        for order, order_lines in pending:
            for line in order_lines:
                line.order = order
                lines.append(line)
        OrderLine.objects.bulk_create(lines, batch_size=2000)

    def _write_interactions(self, plans: list[Plan]) -> None:
        kinds = data.INTERACTIONS
        weights = [k[-1] for k in kinds]
        with self.bar("interactions", len(plans)) as bar, given_times(Interaction):
            rows: list[Interaction] = []
            for plan in plans:
                rows.extend(self._interactions(plan, kinds, weights))
                if len(rows) >= 2000:
                    Interaction.objects.bulk_create(rows)
                    rows = []
                bar.advance()
            Interaction.objects.bulk_create(rows)

    def _interactions(self, plan: Plan, kinds, weights):
        rng = self.rng
        mean = 0.3 + 0.2 * len(plan.purchases)
        count = min(15, _poisson(rng, mean))
        returns = [p for p in plan.purchases if p.is_return]
        staff = self.staff[plan.person.branch_code]
        span = (self.now - plan.joined_at).total_seconds()
        sources = {
            "complaint": "complaints",
            "service": "after-sales",
            "enquiry": "call-centre",
        }
        for index in range(count):
            if index < len(returns):
                kind = next(k for k in kinds if k[0] == "complaint")
                at = returns[index].at - dt.timedelta(hours=rng.randint(2, 72))
            else:
                kind = rng.choices(kinds, weights)[0]
                at = plan.joined_at + dt.timedelta(seconds=rng.uniform(0, span))
            type_, channel, direction, summaries, outcomes, _ = kind
            yield Interaction(
                uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
                customer_id=plan.pk,
                channel=channel,
                direction=direction,
                type=type_,
                occurred_at=min(at, self.now),
                staff=rng.choice(staff),
                summary=rng.choice(summaries),
                outcome=rng.choice(outcomes),
                source=self.sources[sources.get(type_, "staff-entry")],
                created_at=min(at, self.now),
            )

    def _audit(self, plans: list[Plan]) -> None:
        """A few entries summarising the load instead of one per row."""
        totals = counts()
        for entity in ("customers", "orders", "interactions", "consents"):
            AuditEntry.objects.create(
                action=f"demo.load_{entity}",
                entity="demo",
                entity_id=str(self.seed),
                after={"count": totals[entity]},
            )
        AuditEntry.objects.create(
            action="demo.load",
            entity="demo",
            entity_id=str(self.seed),
            after={
                "company": data.COMPANY,
                "seed": self.seed,
                "customers_requested": self.count,
                "first_day": self.first_day.isoformat(),
                "last_day": self.last_day.isoformat(),
                "counts": totals,
            },
        )


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: fine for the small means used here.
    limit, product, count = pow(2.718281828459045, -mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count
