"""The demo's campaigns, so the campaign pages have something to show:

- a finished mailing of last spring, imported with its outcomes (a control
  group and two letters, the coupon letter doing best), evaluated;
- a phone campaign to lapsing customers, selected and assigned, in its plan
  stage: the user can start it, and the Shanghai staff get their call list;
- a segment each campaign draws from.

Everything goes through the services, as the system (no actor).
"""

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from clientbook.campaigns import services
from clientbook.campaigns.history import campaign_history_import
from clientbook.campaigns.models import Campaign
from clientbook.customers.models import Customer
from clientbook.segments.services import segment_create

LAPSING = {
    "version": 1,
    "match": "all",
    "conditions": [
        {"field": "days_since_purchase", "op": "between", "value": [120, 400]},
        {"field": "order_count", "op": "gte", "value": 2},
    ],
}
# (arm, places in a block of 20, visit rate, purchase rate, mean spend)
SPRING_ARMS = (
    ("对照组", 2, 0.04, 0.020, 180),
    ("A 新茶目录", 9, 0.09, 0.045, 210),
    ("B 目录加满减券", 9, 0.12, 0.065, 190),
)
BLOCK = [arm for arm in SPRING_ARMS for _ in range(arm[1])]


def load(*, seed: int, today: dt.date) -> None:
    rng = random.Random(seed + 7)
    _spring_mailing(rng, today)
    _winback_calls(seed)


def _spring_mailing(rng: random.Random, today: dt.date) -> None:
    """A past experiment: every fourth customer with an address, split at
    random in blocks of 20 (2 control, 9 + 9 letters), with outcomes drawn
    from each arm's rates."""
    customers = list(
        Customer.objects.filter(
            addresses__isnull=False, archived_at__isnull=True, merged_into__isnull=True
        )
        .distinct()
        .order_by("pk")
        .values_list("uuid", flat=True)[::4]
    )
    rng.shuffle(customers)
    rows = []
    for i, uuid in enumerate(customers):
        arm, _places, visit, buy, spend = BLOCK[i % len(BLOCK)]
        bought = rng.random() < buy
        rows.append(
            {
                "customer": str(uuid),
                "arm": arm,
                "visited": bought or rng.random() < visit,
                "converted": bought,
                "spend": str(_spend(rng, spend)) if bought else "0",
            }
        )
    started = timezone.make_aware(
        dt.datetime.combine(today - dt.timedelta(days=200), dt.time(9))
    )
    campaign = campaign_history_import(
        name="2026 春季新茶直邮",
        rows=rows,
        actor=None,
        control="对照组",
        channel="mail",
        started_at=started,
        objective="春茶上市，唤醒老客户到店或网购",
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        offer="满 300 减 50", cost_per_contact=Decimal("3.50")
    )


def _spend(rng: random.Random, mean: float) -> Decimal:
    return Decimal(str(round(rng.expovariate(1 / mean) + 30, 2)))


def _winback_calls(seed: int) -> None:
    segment = segment_create(
        name="沉睡的回头客（4–13 个月未购）", definition=LAPSING, actor=None
    )
    campaign = services.campaign_create(
        name="老客户回访（电话）",
        actor=None,
        objective="回访 4 个月以上未购买的回头客，了解原因并邀请到店品鉴",
        offer="到店免费品鉴 + 9 折",
        cost_per_contact=Decimal("8.00"),
        expected_response_rate=Decimal("0.08"),
        response_window_days=45,
        holdout_share=Decimal("0.2"),
        seed=seed,
    )
    services.variant_add(
        campaign=campaign,
        code="call",
        name="店员电话回访",
        channel="phone",
        actor=None,
        body="{{ name }}您好，我是茗康茶业的店员。好久不见，本月到店可免费品鉴新茶，"
        "并享 9 折优惠。",
    )
    services.campaign_select(
        campaign=campaign, actor=None, selection={"segments": [str(segment.uuid)]}
    )
    services.campaign_assign(campaign=campaign, actor=None)
    services.campaign_stage_set(campaign=campaign, to="plan", actor=None)
