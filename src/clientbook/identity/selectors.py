"""Reads of the identity app: the review queue, runs, merges, a pair side by side."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from clientbook.customers.models import Customer, IdentifierType
from clientbook.identity.matching import BLOCK_KEYS, COMPARISON_LABELS, EXTRA_KEY_LABEL
from clientbook.identity.models import DedupeRun, DuplicatePair, Merge, PairStatus
from clientbook.org.access import is_branch_scoped, scope_by_branch
from clientbook.privacy.masking import show_identifier


def _both_visible(queryset: QuerySet, user, a: str, b: str) -> QuerySet:
    """Branch staff see a pair or a merge only when both customers are theirs."""
    queryset = scope_by_branch(queryset, user, field=f"{a}__branch")
    if user is not None and user.is_authenticated and is_branch_scoped(user):
        queryset = queryset.filter(**{f"{b}__branch_id": user.branch_id})
    return queryset


def pair_list_for_user(
    *, user, status: str = PairStatus.PENDING, run: DedupeRun | None = None
) -> QuerySet[DuplicatePair]:
    """Pairs of one status, surest first, with both customers loaded."""
    pairs = DuplicatePair.objects.filter(status=status)
    if run is not None:
        pairs = pairs.filter(run=run)
    pairs = pairs.select_related(
        "customer_a__branch", "customer_b__branch", "run", "decided_by"
    )
    return _both_visible(pairs, user, "customer_a", "customer_b").order_by(
        "-probability", "id"
    )


def pair_get_for_user(*, user, uuid) -> DuplicatePair | None:
    pairs = DuplicatePair.objects.select_related(
        "customer_a__source", "customer_b__source", "run", "merge"
    )
    return (
        _both_visible(pairs, user, "customer_a", "customer_b").filter(uuid=uuid).first()
    )


def run_list(*, limit: int = 20) -> QuerySet[DedupeRun]:
    return DedupeRun.objects.select_related("started_by")[:limit]


def run_get(*, uuid) -> DedupeRun | None:
    return DedupeRun.objects.filter(uuid=uuid).first()


def merge_list_for_user(*, user, run: DedupeRun | None = None) -> QuerySet[Merge]:
    merges = Merge.objects.select_related("survivor", "duplicate", "merged_by")
    if run is not None:
        merges = merges.filter(run=run)
    return _both_visible(merges, user, "survivor", "duplicate")


def merge_get_for_user(*, user, uuid) -> Merge | None:
    return merge_list_for_user(user=user).filter(uuid=uuid).first()


def merges_of_customer(*, customer: Customer) -> QuerySet[Merge]:
    return Merge.objects.filter(
        Q(survivor=customer) | Q(duplicate=customer)
    ).select_related("survivor", "duplicate")


@dataclass
class Row:
    label: str
    left: Any
    right: Any

    @property
    def same(self) -> bool:
        return bool(self.left) and self.left == self.right


PROFILE = ["name", "gender", "birth_date", "occupation", "employer", "lifecycle_stage"]


def _identifiers(user, customer: Customer) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for ident in customer.identifiers.filter(is_live=True).order_by("type", "id"):
        found.setdefault(ident.type, []).append(
            show_identifier(user, ident.type, ident.value)
        )
    return {k: ", ".join(v) for k, v in found.items()}


def _address(customer: Customer) -> str:
    first = customer.addresses.order_by("id").first()
    return str(first) if first else ""


def pair_side_by_side(*, user, pair: DuplicatePair) -> list[Row]:
    """The two records field by field, identifiers masked unless the user
    may see them."""
    a, b = pair.customer_a, pair.customer_b
    rows = []
    for field in PROFILE:
        model_field = Customer._meta.get_field(field)
        display = (
            (lambda c, f=field: getattr(c, f"get_{f}_display")())
            if model_field.choices
            else (lambda c, f=field: getattr(c, f) or "")
        )
        rows.append(Row(str(model_field.verbose_name), display(a), display(b)))
    ids_a, ids_b = _identifiers(user, a), _identifiers(user, b)
    for type_ in IdentifierType:
        if type_.value in ids_a or type_.value in ids_b:
            rows.append(
                Row(str(type_.label), ids_a.get(type_.value), ids_b.get(type_.value))
            )
    rows.append(Row(_("Address"), _address(a), _address(b)))
    rows.append(Row(_("Source"), a.source.name, b.source.name))
    rows.append(Row(_("Orders"), a.orders.count(), b.orders.count()))
    rows.append(Row(_("Created"), a.created_at.date(), b.created_at.date()))
    return rows


def evidence_rows(pair: DuplicatePair) -> list[dict[str, Any]]:
    """The pair's evidence with translated names, strongest first."""
    rows = []
    for entry in pair.evidence:
        name = entry["comparison"]
        label = COMPARISON_LABELS.get(name)
        rows.append(
            {
                "comparison": _(label) if label else name.removeprefix("extra_"),
                "level": _(entry["label"]) if entry["label"] else "",
                "weight": entry["weight"],
            }
        )
    return sorted(rows, key=lambda r: -abs(r["weight"]))


def crowded_blocks(run: DedupeRun) -> list[tuple[str, int]]:
    """Per block key, in the user's language, how many customers shared it
    with too many others to be compared on it, most first."""
    labels = {k.column: k.label for k in BLOCK_KEYS}
    rows = []
    for column, count in run.crowded.items():
        label = labels.get(column)
        if label:
            rows.append((_(label), count))
        else:  # a custom field's key
            field = column.removeprefix("block_")
            rows.append((_(EXTRA_KEY_LABEL) % {"field": field}, count))
    return sorted(rows, key=lambda row: -row[1])
