"""How a campaign did (评估优化): each arm against the control group, by
variant, branch, segment and wave; who responded against who did not; the
KPIs of a list of campaigns against the 5% response target.

Everything comes from aggregate SQL over the members (GROUP BY), never from
loading members: one query for the report, whatever dimensions it shows,
rolled up in Python over the few groups it returns; one for the profile;
one for the KPIs of any number of campaigns. The SQL is written by hand
(portable between PostgreSQL and SQLite ≥ 3.35) for its plan, see
`aggregate`.

Definitions (intention to treat, so the control group compares):

- responded: at least one response other than an unsubscribe (or
  `responded_at` set); the response rate is responders ÷ members of the arm,
  also shown ÷ contacted;
- contacted: sent or delivered; cost = contacted × cost per contact;
- converted: at least one order in the response window (`attribution`);
  revenue and margin are net of returns; ROI = (margin − cost) ÷ cost;
- lift: arm minus control in response rate, conversion rate (Newcombe
  interval, z-test) and revenue per member (Welch), see `stats`.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from clientbook.campaigns import stats
from clientbook.campaigns.models import (
    NEGATIVE_KINDS,
    Campaign,
    ContactStatus,
    Member,
    Response,
    Variant,
    Wave,
)

CONTACTED = (ContactStatus.SENT, ContactStatus.DELIVERED)
ZERO = Decimal("0.00")


def response_target() -> Decimal:
    """The response-rate KPI: the postal plan's 5%, unless the settings say
    otherwise (CLIENTBOOK["CAMPAIGNS"]["RESPONSE_TARGET"])."""
    configured = getattr(settings, "CLIENTBOOK", {}).get("CAMPAIGNS", {})
    return Decimal(str(configured.get("RESPONSE_TARGET", "0.05")))


# The report -------------------------------------------------------------------


@dataclass
class Lift:
    """An arm against the control group of the same group."""

    response: stats.ProportionComparison
    conversion: stats.ProportionComparison
    revenue: stats.MeanComparison


@dataclass
class Arm:
    """The figures of one arm (a variant, the control, or all variants)."""

    key: str
    label: str
    is_control: bool = False
    members: int = 0
    contacted: int = 0
    delivered: int = 0
    responded: int = 0
    responded_contacted: int = 0
    converted: int = 0
    revenue: Decimal = ZERO
    margin: Decimal = ZERO
    revenue_sq: float = 0.0
    cost: Decimal = ZERO
    response_rate: float | None = None  # ÷ members (intention to treat)
    response_rate_contacted: float | None = None
    conversion_rate: float | None = None
    revenue_per_member: Decimal | None = None
    roi: float | None = None
    response_ci: tuple[float, float] | None = None  # Wilson, 95%
    conversion_ci: tuple[float, float] | None = None
    lift: Lift | None = None

    def add(self, row: dict) -> None:
        for name in ("members", "contacted", "delivered", "responded"):
            setattr(self, name, getattr(self, name) + row[name])
        self.responded_contacted += row["responded_contacted"]
        self.converted += row["converted"]
        self.revenue += Decimal(row["revenue_total"] or 0)
        self.margin += Decimal(row["margin_total"] or 0)
        self.revenue_sq += float(row["revenue_sq"] or 0)

    def merge(self, other: "Arm") -> None:
        """Adds another arm's figures (all variants together)."""
        self.add(
            vars(other) | {"revenue_total": other.revenue, "margin_total": other.margin}
        )

    def finish(self, cost_per_contact: Decimal) -> "Arm":
        """Sets the cost and the ratios once the counts are in (fields, not
        properties, so they serialise with the rest)."""
        n = self.members
        self.cost = self.contacted * cost_per_contact
        self.response_rate = self.responded / n if n else None
        self.response_rate_contacted = (
            self.responded_contacted / self.contacted if self.contacted else None
        )
        self.conversion_rate = self.converted / n if n else None
        self.revenue_per_member = (
            (self.revenue / n).quantize(Decimal("0.0001")) if n else None
        )
        self.roi = float((self.margin - self.cost) / self.cost) if self.cost else None
        self.response_ci = stats.wilson_interval(self.responded, n) if n else None
        self.conversion_ci = stats.wilson_interval(self.converted, n) if n else None
        return self


def lift(arm: Arm, control: Arm) -> Lift:
    """The arm against the control: differences with 95% intervals and
    p-values (see `stats`)."""
    return Lift(
        response=stats.proportions_compare(
            arm.responded, arm.members, control.responded, control.members
        ),
        conversion=stats.proportions_compare(
            arm.converted, arm.members, control.converted, control.members
        ),
        revenue=stats.means_compare(
            arm.members,
            arm.revenue,
            arm.revenue_sq,
            control.members,
            control.revenue,
            control.revenue_sq,
        ),
    )


@dataclass
class Group:
    """The arms of one value of a dimension (one branch, one segment …); the
    "variant" dimension has one group, the whole campaign."""

    key: str
    label: str
    arms: list[Arm] = field(default_factory=list)
    control: Arm | None = None
    treated: Arm | None = None  # all variants together

    @property
    def rows(self) -> list[Arm]:
        """The arms, then all variants together when there are several."""
        several = sum(not a.is_control for a in self.arms) > 1
        return self.arms + ([self.treated] if several and self.treated else [])


@dataclass
class Report:
    campaign: Campaign
    dimensions: dict[str, list[Group]]
    total: Arm
    generated_at: dt.datetime

    @property
    def overall(self) -> Group:
        return self.dimensions["variant"][0]

    @property
    def sections(self) -> list[tuple[str, str, list[Group]]]:
        """(dimension, its label, its groups), for templates."""
        labels = dimension_labels()
        return [
            (name, labels[name], groups) for name, groups in self.dimensions.items()
        ]

    @property
    def chart(self) -> dict:
        return {
            "response": report_chart(self, "response"),
            "conversion": report_chart(self, "conversion"),
        }


# Dimensions other than the arms themselves: the member column they group by.
DIMENSIONS = {
    "branch": "customer__branch_id",
    "segment": "segment_id",
    "wave": "wave",
}


def dimension_labels() -> dict[str, str]:
    return {
        "variant": _("Variants and control"),
        "branch": _("By branch"),
        "segment": _("By segment"),
        "wave": _("By wave"),
    }


def _rows(campaign: Campaign, by: tuple[str, ...]) -> list[dict]:
    groups = {"variant_id": "m.variant_id"}
    groups |= {DIMENSIONS[d]: _GROUP_SQL[d] for d in by if d in DIMENSIONS}
    return aggregate([campaign.pk], groups)


# The member columns a report may group by, as SQL over member m, customer c.
_GROUP_SQL = {"branch": "c.branch_id", "segment": "m.segment_id", "wave": "m.wave"}


def aggregate(campaign_ids: list[int], groups: dict[str, str]) -> list[dict]:
    """The figures of the assigned members of the campaigns, grouped by
    `groups` (alias → SQL over member m, variant v, customer c): one query.

    Hand-written rather than the ORM's, for its shape: responders come from
    one LEFT JOIN to the distinct responding members rather than an EXISTS
    per member, twice, which lets PostgreSQL hash-aggregate in parallel
    without sorting every member (about 2× faster at 100k members). The
    responses are not narrowed to the campaign: joining the members again
    for that costs more than reading the (much smaller) response table."""
    member, variant = Member._meta.db_table, Variant._meta.db_table
    response = Response._meta.db_table
    from clientbook.customers.models import Customer

    ids = ", ".join(["%s"] * len(campaign_ids))
    negative = ", ".join(["%s"] * len(NEGATIVE_KINDS))
    contacted = "m.status IN (%s, %s)"
    responded = "(m.responded_at IS NOT NULL OR p.member_id IS NOT NULL)"
    real = "double precision" if connection.vendor == "postgresql" else "REAL"
    columns = ", ".join(f"{sql} AS {alias}" for alias, sql in groups.items())
    join_customer = (
        f"JOIN {Customer._meta.db_table} c ON c.id = m.customer_id"
        if any("c." in sql for sql in groups.values())
        else ""
    )
    sql = f"""
        SELECT {columns},
               COUNT(*) AS members,
               COUNT(*) FILTER (WHERE {contacted}) AS contacted,
               COUNT(*) FILTER (WHERE m.status = %s OR m.delivered_at IS NOT NULL)
                   AS delivered,
               COUNT(*) FILTER (WHERE {responded}) AS responded,
               COUNT(*) FILTER (WHERE {responded} AND {contacted})
                   AS responded_contacted,
               COUNT(*) FILTER (WHERE m.orders > 0) AS converted,
               SUM(m.revenue) AS revenue_total,
               SUM(m.margin) AS margin_total,
               SUM(CAST(m.revenue AS {real}) * CAST(m.revenue AS {real}))
                   AS revenue_sq
        FROM {member} m
        JOIN {variant} v ON v.id = m.variant_id
        {join_customer}
        LEFT JOIN (
            SELECT DISTINCT r.member_id FROM {response} r
            WHERE r.kind NOT IN ({negative})
        ) p ON p.member_id = m.id
        WHERE m.campaign_id IN ({ids})
        GROUP BY {", ".join(groups.values())}
    """  # noqa: S608 (names from the models and the code, values as parameters)
    params = [*CONTACTED, ContactStatus.DELIVERED, *CONTACTED]
    params += [*NEGATIVE_KINDS, *campaign_ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(p) if not isinstance(p, int) else p for p in params])
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["revenue_total"] = _money(row["revenue_total"])
        row["margin_total"] = _money(row["margin_total"])
    return rows


def _money(value) -> Decimal:
    """A sum of money from either database (SQLite sums decimals as floats)."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(Decimal("0.01"))


def _value_labels(dimension: str, keys: set) -> dict:
    from clientbook.org.models import Branch
    from clientbook.segments.models import Segment

    none = _("None")
    if dimension == "branch":
        names = dict(Branch.objects.filter(pk__in=keys).values_list("pk", "name"))
    elif dimension == "segment":
        names = dict(Segment.objects.filter(pk__in=keys).values_list("pk", "name"))
    else:
        names = {w.value: w.label for w in Wave} | {"": _("No test")}
    return {key: str(names.get(key, none)) for key in keys}


def _group(key, label, rows, variants: dict[int, Variant], campaign) -> Group:
    arms: dict[int, Arm] = {}
    for row in rows:
        variant = variants[row["variant_id"]]
        arm = arms.get(variant.pk)
        if arm is None:
            arm = arms[variant.pk] = Arm(
                key=variant.code, label=variant.name, is_control=variant.is_control
            )
        arm.add(row)
    group = Group(key=str(key), label=label)
    ordered = sorted(arms.values(), key=lambda a: (a.is_control, a.key))
    treated = Arm(key="treated", label=_("All variants"))
    for arm in ordered:
        arm.finish(campaign.cost_per_contact)
        if arm.is_control:
            group.control = arm
        else:
            treated.merge(arm)
    group.arms = ordered
    group.treated = (
        treated.finish(campaign.cost_per_contact) if treated.members else None
    )
    if group.control and group.control.members:
        for arm in [a for a in ordered if not a.is_control] + [treated]:
            arm.lift = lift(arm, group.control) if arm.members else None
    return group


def campaign_report(campaign: Campaign, *, by=("variant",)) -> Report:
    """The evaluation of a campaign: for each dimension in `by` ("variant",
    "branch", "segment", "wave"), one group per value with its arms, each
    arm's figures and its lift over that group's control. "variant" is
    always there: the whole campaign's arms. One aggregate query."""
    by = tuple(dict.fromkeys(("variant", *by)))
    unknown = set(by) - {"variant", *DIMENSIONS}
    if unknown:
        raise ValueError(f"unknown dimensions: {sorted(unknown)}")
    rows = _rows(campaign, by)
    variants = {v.pk: v for v in Variant.objects.filter(campaign=campaign)}
    dimensions = {
        "variant": [_group("all", _("All members"), rows, variants, campaign)]
    }
    for dimension in by[1:]:
        column = DIMENSIONS[dimension]
        parts = defaultdict(list)
        for row in rows:
            parts[row[column]].append(row)
        labels = _value_labels(dimension, set(parts))
        dimensions[dimension] = [
            _group(key, labels[key], parts[key], variants, campaign)
            for key in sorted(parts, key=lambda k: labels[k])
        ]
    total = Arm(key="total", label=_("All members"))
    for row in rows:
        total.add(row)
    total.finish(campaign.cost_per_contact)
    return Report(
        campaign=campaign,
        dimensions=dimensions,
        total=total,
        generated_at=timezone.now(),
    )


# The chart ----------------------------------------------------------------------

_COLOURS = {"control": "#9aa5b1", "arm": "#3b6ea8", "whisker": "#1f2933"}


def report_chart(report: Report, metric: str = "response") -> dict:
    """A Chart.js bar chart of the response (or conversion) rate of each arm,
    in percent, with the 95% Wilson interval as a thin floating bar over it
    (a whisker Chart.js draws without a plugin)."""
    arms = [a for a in report.overall.arms if a.members]
    if metric == "response":
        rates = [a.response_rate for a in arms]
        intervals = [a.response_ci for a in arms]
        title = _("Response rate (%)")
    else:
        rates = [a.conversion_rate for a in arms]
        intervals = [a.conversion_ci for a in arms]
        title = _("Conversion rate (%)")
    colours = [_COLOURS["control" if a.is_control else "arm"] for a in arms]
    return {
        "type": "bar",
        "data": {
            "labels": [a.label for a in arms],
            "datasets": [
                {
                    "label": title,
                    "data": [round(100 * r, 3) for r in rates],
                    "backgroundColor": colours,
                    "order": 2,
                },
                {
                    # xgettext:no-python-format
                    "label": _("95% confidence interval"),
                    "data": [
                        [round(100 * lo, 3), round(100 * hi, 3)] for lo, hi in intervals
                    ],
                    "backgroundColor": _COLOURS["whisker"],
                    "barThickness": 3,
                    "grouped": False,
                    "order": 1,
                },
            ],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "plugins": {"legend": {"display": True}},
            "scales": {
                "y": {"beginAtZero": True, "title": {"display": True, "text": title}}
            },
        },
    }


# Responders against the others --------------------------------------------------


@dataclass
class ProfileValue:
    label: str
    responders: int
    others: int
    responders_share: float | None
    others_share: float | None


@dataclass
class ProfileAttribute:
    """One attribute compared between responders and the others: shares of
    each value (chi-square) or means (Welch)."""

    name: str
    label: str
    kind: str  # "categorical" or "numeric"
    p_value: float | None
    values: list[ProfileValue] = field(default_factory=list)
    responders_mean: float | None = None
    others_mean: float | None = None
    responders_n: int = 0
    others_n: int = 0


@dataclass
class Profile:
    responders: int
    others: int
    attributes: list[ProfileAttribute]


def _categorical() -> dict:
    """name → (label, SQL over the profile's tables, value labels)."""
    from clientbook.customers.models import Gender
    from clientbook.quality.models import Grade

    address = _table("customers", "Address")
    return {
        "gender": (_("Gender"), "c.gender", dict(Gender.choices)),
        "branch": (_("Branch"), "b.name", {}),
        # the customer's first address
        "province": (
            _("Province"),
            f"(SELECT a.province FROM {address} a WHERE a.customer_id = c.id"
            " ORDER BY a.id LIMIT 1)",
            {},
        ),
        "rfm_cell": (_("RFM cell"), "s.rfm_cell", {}),
        "value_tier": (_("Value tier"), "s.value_tier", {}),
        "grade": (
            _("Quality grade"),
            "q.grade",
            {str(k): v for k, v in Grade.choices},
        ),
    }


def _numeric() -> dict:
    """name → (label, column of analytics.CustomerScore)."""
    return {
        "clv": (_("Lifetime value"), "clv"),
        "frequency": (_("Orders"), "frequency"),
        "monetary": (_("Net sales"), "monetary"),
        "recency_days": (_("Days since last order"), "recency_days"),
    }


def _table(app: str, model: str) -> str:
    from django.apps import apps

    return apps.get_model(app, model)._meta.db_table


def _profile_sql() -> str:
    """One query: the contacted members with their attributes, once
    (a materialised CTE), then one small GROUP BY per attribute."""
    real = "double precision" if connection.vendor == "postgresql" else "REAL"
    categorical = _categorical()
    numeric = _numeric()
    columns = [f"{sql} AS {name}" for name, (_l, sql, _n) in categorical.items()]
    columns += [
        f"CAST(s.{column} AS {real}) AS {n}" for n, (_l, column) in numeric.items()
    ]
    parts = [
        f"SELECT '{name}' AS attribute, CAST({name} AS TEXT) AS value, resp,"
        f" COUNT(*) AS n, CAST(NULL AS {real}) AS s, CAST(NULL AS {real}) AS ss"
        f" FROM x GROUP BY {name}, resp"
        for name in [*categorical, "birth_date"]
    ]
    parts += [
        f"SELECT '{name}', NULL, resp, COUNT({name}), SUM({name}),"
        f" SUM({name} * {name}) FROM x GROUP BY resp"
        for name in numeric
    ]
    union = "\n UNION ALL ".join(parts)
    return f"""
        WITH x AS MATERIALIZED (
            SELECT CASE WHEN m.responded_at IS NOT NULL OR p.member_id IS NOT NULL
                        THEN 1 ELSE 0 END AS resp,
                   c.birth_date AS birth_date,
                   {", ".join(columns)}
            FROM {Member._meta.db_table} m
            JOIN {Variant._meta.db_table} v ON v.id = m.variant_id
            JOIN {_table("customers", "Customer")} c ON c.id = m.customer_id
            LEFT JOIN {_table("org", "Branch")} b ON b.id = c.branch_id
            LEFT JOIN {_table("analytics", "CustomerScore")} s
                   ON s.customer_id = c.id
            LEFT JOIN {_table("quality", "CustomerQuality")} q
                   ON q.customer_id = c.id
            LEFT JOIN (
                SELECT DISTINCT r.member_id FROM {Response._meta.db_table} r
                WHERE r.kind NOT IN ({", ".join(["%s"] * len(NEGATIVE_KINDS))})
            ) p ON p.member_id = m.id
            WHERE m.campaign_id = %s AND NOT v.is_control
              AND m.status IN (%s, %s)
        )
        {union}
    """  # noqa: S608 (names from the models and the code, values as parameters)


def _categorical_attribute(name, label, names, counts: dict) -> ProfileAttribute:
    """`counts`: value → [responders, others]."""
    totals = [sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())]
    values = [
        ProfileValue(
            label=str(names.get(key, key)) if key not in (None, "") else _("Unknown"),
            responders=c[0],
            others=c[1],
            responders_share=c[0] / totals[0] if totals[0] else None,
            others_share=c[1] / totals[1] if totals[1] else None,
        )
        for key, c in sorted(counts.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
    ]
    p_value = stats.chi_square_p_value([list(c) for c in counts.values()])
    return ProfileAttribute(name, label, "categorical", p_value, values=values)


def _numeric_attribute(name, label, groups: dict) -> ProfileAttribute:
    """`groups`: responder flag → (n, sum, sum of squares)."""
    responders, others = groups.get(True, (0, 0, 0)), groups.get(False, (0, 0, 0))
    result = stats.means_compare(*responders, *others)
    return ProfileAttribute(
        name,
        label,
        "numeric",
        result.p_value,
        responders_mean=result.mean1 if responders[0] else None,
        others_mean=result.mean2 if others[0] else None,
        responders_n=responders[0],
        others_n=others[0],
    )


def _age_attribute(births: dict, today: dt.date) -> ProfileAttribute:
    """Age in whole years on `today`, from the counts per birth date."""
    sums: dict = defaultdict(lambda: [0, 0.0, 0.0])
    for born, (responders, others) in births.items():
        if born is None:
            continue
        born = dt.date.fromisoformat(str(born)[:10])
        age = (
            today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        )
        for flag, n in ((True, responders), (False, others)):
            total = sums[flag]
            total[0] += n
            total[1] += n * age
            total[2] += n * age * age
    return _numeric_attribute("age", _("Age"), {k: tuple(v) for k, v in sums.items()})


def responder_profile(campaign: Campaign, *, today: dt.date | None = None) -> Profile:
    """Responders against non-responders among the contacted members of the
    variants: for each attribute, the shares of its values (chi-square p) or
    the means (Welch p); sorted by p-value, the clearest difference first,
    untestable attributes last. One query."""
    today = today or timezone.localdate()
    params = [*NEGATIVE_KINDS, campaign.pk, *CONTACTED]
    counts: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    sums: dict = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            _profile_sql(), [str(p) if isinstance(p, str) else p for p in params]
        )
        for attribute, value, resp, n, total, total_sq in cursor.fetchall():
            if attribute in _numeric():
                sums[attribute][bool(resp)] = (n, total or 0.0, total_sq or 0.0)
            else:
                counts[attribute][value][0 if resp else 1] += n
    attributes = [
        _categorical_attribute(name, label, names, counts[name])
        for name, (label, _sql, names) in _categorical().items()
    ]
    attributes.append(_age_attribute(counts["birth_date"], today))
    attributes += [
        _numeric_attribute(name, label, sums[name])
        for name, (label, _column) in _numeric().items()
    ]
    split = [sum(c[i] for c in counts["gender"].values()) for i in (0, 1)]
    attributes.sort(key=lambda a: (a.p_value is None, a.p_value or 0.0))
    return Profile(responders=split[0], others=split[1], attributes=attributes)


# KPIs of many campaigns -----------------------------------------------------------


def campaign_kpis(campaigns) -> dict[int, dict]:
    """The headline figures of each campaign, by campaign id, in one query:
    members, contacted, responders (among the contacted), response rate
    (÷ contacted, the postal KPI), revenue and margin of the treated members,
    cost, ROI, and whether the rate reaches the campaign's expected rate and
    the target (5%)."""
    campaigns = list(campaigns)
    if not campaigns:
        return {}
    rows = aggregate(
        [c.pk for c in campaigns],
        {"campaign_id": "m.campaign_id", "is_control": "v.is_control"},
    )
    found: dict[int, dict] = {}
    for row in rows:
        kpi = found.setdefault(
            row["campaign_id"],
            {"members": 0, "contacted": 0, "responders": 0, "revenue": ZERO,
             "margin": ZERO},
        )  # fmt: skip
        kpi["members"] += row["members"]
        if not row["is_control"]:
            kpi["contacted"] += row["contacted"]
            kpi["responders"] += row["responded_contacted"]
            kpi["revenue"] += row["revenue_total"]
            kpi["margin"] += row["margin_total"]
    target = response_target()
    return {c.pk: _kpi(c, found.get(c.pk), target) for c in campaigns}


def _kpi(campaign: Campaign, row: dict | None, target: Decimal) -> dict:
    row = row or {"members": 0, "contacted": 0, "responders": 0}
    contacted = row["contacted"]
    rate = row["responders"] / contacted if contacted else None
    cost = contacted * campaign.cost_per_contact
    margin = row.get("margin", ZERO)
    expected = float(campaign.expected_response_rate)
    return {
        "members": row["members"],
        "contacted": contacted,
        "responders": row["responders"],
        "response_rate": rate,
        "revenue": row.get("revenue", ZERO),
        "margin": margin,
        "cost": cost,
        "roi": float((margin - cost) / cost) if cost else None,
        "expected_response_rate": expected,
        "target": float(target),
        "meets_expected": None if rate is None else rate >= expected,
        "meets_target": None if rate is None else rate >= float(target),
    }
