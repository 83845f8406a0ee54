"""Purchase histories with seasonality and a long-tailed value distribution.

Each customer follows the story of the BG/NBD and Gamma-Gamma models, so the
lifetime-value and RFM analyses find in the demo what they assume:

- while alive, purchases arrive as a Poisson process whose rate varies from
  customer to customer (gamma-distributed) and with the calendar (春节, 618,
  中秋, 双十一);
- after each purchase the customer may drop out for good (a per-customer
  probability, beta-distributed);
- the mean spend per order varies from customer to customer (gamma), and each
  order's spend varies around it (gamma).

Plain Python without Django, so the benchmark generator reuses it.
"""

import bisect
import datetime as dt
import random
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from clientbook.demo import data

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
ONLINE = data.ONLINE_BRANCH


def season_weight(day: dt.date) -> float:
    """How busy a day is, relative to an ordinary weekday."""
    weight = 1.25 if day.weekday() >= 5 else 1.0
    spring = data.SPRING_FESTIVAL.get(day.year + (1 if day.month >= 12 else 0))
    if spring:
        before = (spring - day).days
        if 2 <= before <= 24:
            weight *= 2.0  # 年货: buying for the New Year
        elif -6 <= before <= 1:
            weight *= 0.35  # shops close, people travel
    autumn = data.MID_AUTUMN.get(day.year)
    if autumn and 0 <= (autumn - day).days <= 20:
        weight *= 2.3  # mooncake and tea gifts
    if day.month == 6 and day.day <= 18:
        weight *= 3.0 if day.day == 18 else 1.4
    if day.month == 11:
        if day.day == 11:
            weight *= 7.0
        elif 1 <= day.day <= 10:
            weight *= 1.5
        elif day.day <= 13:
            weight *= 1.4
    if day.month == 12 and day.day == 12:
        weight *= 2.0
    return weight


class Calendar:
    """Maps days to "busy time": a year of busy time holds as many
    purchases as a year of ordinary days would, but bunched at the peaks."""

    def __init__(self, first: dt.date, last: dt.date) -> None:
        self.first = first
        self.days = (last - first).days + 1
        weights = [season_weight(first + dt.timedelta(i)) for i in range(self.days)]
        scale = len(weights) / sum(weights) / 365.25
        self.cumulative = [0.0]
        for weight in weights:
            self.cumulative.append(self.cumulative[-1] + weight * scale)

    @property
    def end(self) -> float:
        return self.cumulative[-1]

    def day_at(self, position: float) -> dt.date:
        index = bisect.bisect_right(self.cumulative, position) - 1
        return self.first + dt.timedelta(min(index, self.days - 1))

    def position_of(self, day: dt.date) -> float:
        return self.cumulative[(day - self.first).days]

    def day_of(self, day: dt.date) -> int:
        return (day - self.first).days


@dataclass
class Line:
    sku: str
    quantity: int  # negative for a return
    unit_price: Decimal
    unit_cost: Decimal

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price

    @property
    def cost(self) -> Decimal:
        return self.quantity * self.unit_cost


@dataclass
class Purchase:
    at: dt.datetime
    channel: str
    branch_code: str
    lines: list[Line] = field(default_factory=list)
    is_return: bool = False

    @property
    def amount(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal(0))


@dataclass
class Habits:
    """What drives one customer's purchases."""

    rate: float  # purchases per year while alive
    dropout: float  # chance of leaving after each purchase
    spend: float  # mean spend per order, yuan
    categories: list[str]
    online_share: float


# Mean spend per order of a customer whose favourite category this is.
CATEGORY_SPEND = {
    "茶叶": 420.0,
    "茶具": 320.0,
    "养生食品": 160.0,
    "鲜榨饮品": 38.0,
    "节日礼盒": 480.0,
    "滋补品": 900.0,
    "健康零食": 90.0,
    "课程与服务": 300.0,
}
CATEGORY_POPULARITY = {
    "茶叶": 30,
    "茶具": 8,
    "养生食品": 18,
    "鲜榨饮品": 14,
    "节日礼盒": 6,
    "滋补品": 7,
    "健康零食": 12,
    "课程与服务": 5,
}


class HistoryMaker:
    def __init__(self, rng: random.Random, calendar: Calendar, products) -> None:
        self.rng = rng
        self.calendar = calendar
        self.by_category: dict[str, list] = {}
        for product in products:
            self.by_category.setdefault(product.category, []).append(product)
        for items in self.by_category.values():
            items.sort(key=lambda p: p.price)
        self._categories = list(CATEGORY_POPULARITY)
        self._popularity = list(CATEGORY_POPULARITY.values())

    def habits(self, income_band: str) -> Habits:
        rng = self.rng
        count = rng.choice((1, 1, 2, 2, 3))
        categories: list[str] = []
        while len(categories) < count:
            pick = rng.choices(self._categories, self._popularity)[0]
            if pick not in categories:
                categories.append(pick)
        rate = rng.gammavariate(0.8, 15.0)
        if categories[0] == "鲜榨饮品":
            rate *= 3.5  # a juice on the way to work, several times a month
        spend = rng.gammavariate(3.0, CATEGORY_SPEND[categories[0]] / 3.0)
        spend *= data.INCOME_SPEND.get(income_band, 1.0)
        return Habits(
            rate=max(rate, 0.05),
            dropout=rng.betavariate(1.2, 18.0),
            spend=max(spend, 15.0),
            categories=categories,
            online_share=rng.betavariate(1.2, 3.0),
        )

    def join_position(self, *, existing: bool) -> float:
        """Where in busy time a customer first buys: customers acquired in the
        window join evenly in busy time, so more of them join at the peaks."""
        if existing:
            return self.rng.uniform(0.0, 0.3)
        return self.rng.uniform(0.0, self.calendar.end * 0.985)

    def purchases(
        self, habits: Habits, branch_code: str, start: float
    ) -> list[Purchase]:
        rng = self.rng
        purchases = []
        position = start
        while position < self.calendar.end:
            day = self.calendar.day_at(position)
            purchases.append(self._purchase(habits, branch_code, day))
            if rng.random() < habits.dropout:
                break
            position += rng.expovariate(habits.rate)
        return purchases

    def organisation_purchases(self, branch_code: str, start: float) -> list[Purchase]:
        """Companies buy gifts for their staff before 中秋 and 春节, in bulk."""
        rng = self.rng
        purchases = []
        first_day = self.calendar.day_at(start)
        last_day = self.calendar.first + dt.timedelta(self.calendar.days - 1)
        festivals = sorted(
            [*data.MID_AUTUMN.values(), *data.SPRING_FESTIVAL.values()],
        )
        size = rng.lognormvariate(2.3, 0.7)  # gift boxes per festival
        for festival in festivals:
            day = festival - dt.timedelta(rng.randint(5, 20))
            if not first_day <= day <= last_day:
                continue
            if rng.random() < 0.12:
                break  # chose another supplier
            if rng.random() < 0.75:
                purchases.append(
                    self._gift_order(branch_code, day, festival, max(5, int(size)))
                )
        habits = Habits(
            rate=rng.uniform(0.5, 3.0),
            dropout=0.15,
            spend=rng.uniform(500, 1500),
            categories=["茶叶", "茶具"],
            online_share=0.2,
        )
        purchases += self.purchases(habits, branch_code, start)
        purchases.sort(key=lambda p: p.at)
        return purchases

    def _gift_order(self, branch_code, day, festival, boxes) -> Purchase:
        gifts = self.by_category["节日礼盒"]
        names = ("中秋", "企业") if festival.month >= 8 else ("春节", "新年", "企业")
        choices = [p for p in gifts if any(n in p.name for n in names)]
        product = self.rng.choice(choices)
        channel = "store" if branch_code != ONLINE else "online"
        at = self._time(day, channel)
        return Purchase(at, channel, branch_code, [_line(product, boxes)])

    def _purchase(self, habits: Habits, branch_code: str, day: dt.date) -> Purchase:
        rng = self.rng
        channel, branch = self._channel(habits, branch_code, day)
        target = rng.gammavariate(2.5, habits.spend / 2.5)
        categories = habits.categories
        if self._gift_season(day) and rng.random() < 0.4:
            categories = ["节日礼盒", *categories]
        lines = self._basket(categories, target)
        return Purchase(self._time(day, channel), channel, branch, lines)

    def _gift_season(self, day: dt.date) -> bool:
        autumn = data.MID_AUTUMN.get(day.year)
        spring = data.SPRING_FESTIVAL.get(day.year + (1 if day.month >= 12 else 0))
        return any(f and 0 <= (f - day).days <= 20 for f in (autumn, spring))

    def _channel(self, habits: Habits, branch_code: str, day) -> tuple[str, str]:
        rng = self.rng
        if branch_code == ONLINE:
            return ("phone", ONLINE) if rng.random() < 0.04 else ("online", ONLINE)
        online = habits.online_share
        if (day.month, day.day) in ((11, 11), (6, 18), (12, 12)):
            online = min(0.95, online * 3)
        draw = rng.random()
        if draw < online:
            return "online", ONLINE
        if draw < online + 0.04:
            return "phone", branch_code
        return "store", branch_code

    def _basket(self, categories: list[str], target: float) -> list[Line]:
        rng = self.rng
        lines: list[Line] = []
        skus: set[str] = set()
        remaining = target
        for index in range(6):
            category = categories[0] if index == 0 else rng.choice(categories)
            product = self._product(category, remaining)
            if product.sku in skus:
                break
            skus.add(product.sku)
            price = float(product.price)
            quantity = max(1, min(6 if price < 60 else 3, int(remaining / price)))
            lines.append(_line(product, quantity))
            remaining -= quantity * price
            if remaining < 0.15 * target or rng.random() < 0.3:
                break
        return lines

    def _product(self, category: str, budget: float):
        items = self.by_category[category]
        affordable = [p for p in items if float(p.price) <= max(budget, 1.0) * 1.3]
        return self.rng.choice(affordable or items[:1])

    def _time(self, day: dt.date, channel: str) -> dt.datetime:
        rng = self.rng
        if channel == "online":
            if (day.month, day.day) == (11, 11) and rng.random() < 0.3:
                hour = rng.randint(0, 1)  # the midnight rush
            else:
                hour = min(23, max(7, int(rng.gauss(20, 3))))
        else:
            hour = min(21, max(9, int(rng.gauss(15, 3.5))))
        return dt.datetime(
            day.year,
            day.month,
            day.day,
            hour,
            rng.randint(0, 59),
            rng.randint(0, 59),
            tzinfo=SHANGHAI,
        )

    def maybe_return(self, purchase: Purchase, last_day: dt.date) -> Purchase | None:
        """About one order in fifty comes back in part within two weeks."""
        rng = self.rng
        if rng.random() >= 0.02:
            return None
        day = purchase.at.date() + dt.timedelta(rng.randint(1, 14))
        if day > last_day:
            return None
        line = rng.choice(purchase.lines)
        quantity = line.quantity if rng.random() < 0.6 else 1
        back = Line(line.sku, -quantity, line.unit_price, line.unit_cost)
        channel = purchase.channel
        return Purchase(
            self._time(day, channel),
            channel,
            purchase.branch_code,
            [back],
            is_return=True,
        )


def _line(product, quantity: int) -> Line:
    return Line(product.sku, quantity, product.price, product.unit_cost)
