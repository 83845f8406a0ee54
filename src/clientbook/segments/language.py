"""The segment language: a versioned JSON document, validated here and
compiled to one SQL query by `compiler`.

A definition is a group::

    {"version": 1, "match": "all", "conditions": [ ... ]}

A group has ``match`` ("all" = AND, "any" = OR), optional ``negate`` (NOT)
and ``conditions``: conditions or nested groups (a nested group has no
``version``). An empty top-level group matches every live customer. A
condition names a ``field``, an ``op``, usually a ``value`` and, for some
fields, parameters; it may also carry ``negate``::

    {"field": "gender", "op": "eq", "value": "F"}
    {"field": "age", "op": "between", "value": [30, 45]}
    {"field": "custom", "key": "vip_level", "op": "gte", "value": 3}
    {"field": "tag", "op": "in", "value": ["VIP", "车主"]}
    {"field": "identifier", "type": "mobile", "op": "is_set"}
    {"field": "city", "op": "in", "value": ["上海市", "杭州市"]}
    {"field": "consent", "channel": "sms", "purpose": "marketing",
     "op": "eq", "value": "granted"}
    {"field": "churn_score", "op": "gte", "value": 0.7}
    {"field": "bought", "op": "exists", "category": ["饮品"],
     "window": {"last_days": 90}}
    {"field": "spent", "op": "gte", "value": 1000,
     "window": {"from": "2026-01-01", "to": "2026-06-30"}}
    {"field": "days_since_purchase", "op": "gte", "value": 180}
    {"field": "responded", "op": "exists", "channel": ["email"],
     "window": {"last_days": 30}}
    {"field": "segment", "op": "exists", "segment": "<segment uuid or name>"}
    {"field": "selected", "op": "exists", "negate": true,
     "purpose": "春季", "window": {"last_days": 60}}
    {"field": "campaign", "op": "exists", "campaign": "春季新茶",
     "arm": "treated", "responded": true}

Operators by type (``FIELDS`` says which type each field has):

- text: eq, in, contains, startswith, is_set, not_set
- choice: eq, in, is_set, not_set
- number, date: eq, in (number only), gte, lte, between, is_set, not_set
- bool: eq
- aggregate (spent, order_count): eq, gte, lte, between (a customer with no
  order in the window counts as 0)
- exists (behaviour, identifiers): exists; ``negate`` turns it into "did not"

``in`` takes a non-empty list, ``between`` a list of two (inclusive), dates
are ISO ``YYYY-MM-DD`` in the configured time zone. A ``window`` is
``{"last_days": N}`` or ``{"from": date, "to": date}`` (either bound may be
left out); without one, all history counts.

Meanings worth knowing: ``bought`` counts order lines with a positive
quantity; ``spent`` is net of returns (negative orders); ``order_count`` and
``days_since_purchase`` count purchases (orders with a positive amount);
``days_since_purchase`` ``gte N`` means "bought before, but not in the last N
days" (use ``bought`` with ``negate`` for "never bought"); ``contacted`` is an
outbound interaction, ``responded`` an inbound one, ``complained`` an
interaction of type complaint; ``consent`` compares the current state (the
latest ledger entry per channel × purpose, "unknown" when there is none);
``segment`` is membership of another segment (its latest snapshot when
static; a segment may not refer to itself through any chain); ``selected``
looks in the selection log campaigns write (``purpose`` matches by
substring); ``campaign`` is membership of a campaign (name or UUID) not
suppressed there, optionally of an arm (``control``, ``treated`` or a
variant's code) and having responded or not.

Validation reports every problem with the path of the bad node, such as
``conditions[2].value`` or ``conditions[0].conditions[1].window.last_days``.
"""

import datetime as dt
import uuid as uuid_lib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbook.activity.models import Direction, InteractionChannel, InteractionType
from clientbook.customers.models import (
    CustomerKind,
    FieldType,
    Gender,
    IdentifierType,
    IncomeBand,
    LifecycleStage,
)
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentChannel, ConsentPurpose, ConsentStatus
from clientbook.sales.models import SalesChannel
from clientbook.segments.errors import ErrorCode

VERSION = 1
MAX_DEPTH = 8
MAX_CONDITIONS = 200

TEXT_OPS = ("eq", "in", "contains", "startswith", "is_set", "not_set")
CHOICE_OPS = ("eq", "in", "is_set", "not_set")
NUMBER_OPS = ("eq", "in", "gte", "lte", "between", "is_set", "not_set")
DATE_OPS = ("eq", "gte", "lte", "between", "is_set", "not_set")
BOOL_OPS = ("eq",)
AGGREGATE_OPS = ("eq", "gte", "lte", "between")
EXISTS_OPS = ("exists",)
OPS_BY_TYPE = {
    "text": TEXT_OPS,
    "choice": CHOICE_OPS,
    "number": NUMBER_OPS,
    "date": DATE_OPS,
    "bool": BOOL_OPS,
    "aggregate": AGGREGATE_OPS,
    "exists": EXISTS_OPS,
}
OP_LABELS = {
    "eq": gettext_lazy("is"),
    "in": gettext_lazy("is one of"),
    "contains": gettext_lazy("contains"),
    "startswith": gettext_lazy("starts with"),
    "gte": gettext_lazy("at least"),
    "lte": gettext_lazy("at most"),
    "between": gettext_lazy("between"),
    "is_set": gettext_lazy("is set"),
    "not_set": gettext_lazy("is not set"),
    "exists": gettext_lazy("yes"),
}


def _values(choices) -> tuple[str, ...]:
    return tuple(v for v in choices.values if v)


@dataclass(frozen=True)
class Param:
    """An extra key of a condition: `kind` is text, list, choice, choices
    (a list of choices), bool or window."""

    name: str
    kind: str
    label: Any
    required: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: Any
    group: Any
    type: str
    choices: tuple[str, ...] = ()
    params: tuple[Param, ...] = field(default_factory=tuple)

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS_BY_TYPE[self.type]


PROFILE = gettext_lazy("Profile")
GEOGRAPHY = gettext_lazy("Geography and branch")
CONTACT = gettext_lazy("Contact and consent")
SCORES = gettext_lazy("Scores and models")
BEHAVIOUR = gettext_lazy("Behaviour")
OTHER = gettext_lazy("Other segments and campaigns")

WINDOW = Param("window", "window", gettext_lazy("time window"))


def _specs() -> dict[str, FieldSpec]:
    interaction_params = (
        Param(
            "channel",
            "choices",
            gettext_lazy("channel"),
            choices=_values(InteractionChannel),
        ),
        Param(
            "type", "choices", gettext_lazy("type"), choices=_values(InteractionType)
        ),
        WINDOW,
    )
    specs = [
        FieldSpec(
            "kind", gettext_lazy("kind"), PROFILE, "choice", _values(CustomerKind)
        ),
        FieldSpec("gender", gettext_lazy("gender"), PROFILE, "choice", _values(Gender)),
        FieldSpec("age", gettext_lazy("age"), PROFILE, "number"),
        FieldSpec("birth_date", gettext_lazy("birth date"), PROFILE, "date"),
        FieldSpec("name", gettext_lazy("name"), PROFILE, "text"),
        FieldSpec("occupation", gettext_lazy("occupation"), PROFILE, "text"),
        FieldSpec("employer", gettext_lazy("employer"), PROFILE, "text"),
        FieldSpec(
            "income_band",
            gettext_lazy("income band"),
            PROFILE,
            "choice",
            _values(IncomeBand),
        ),
        FieldSpec(
            "lifecycle_stage",
            gettext_lazy("lifecycle stage"),
            PROFILE,
            "choice",
            _values(LifecycleStage),
        ),
        FieldSpec("created", gettext_lazy("created"), PROFILE, "date"),
        FieldSpec(
            "custom",
            gettext_lazy("custom field"),
            PROFILE,
            "text",
            params=(Param("key", "text", gettext_lazy("field key"), required=True),),
        ),
        FieldSpec("tag", gettext_lazy("tag"), PROFILE, "choice"),
        FieldSpec(
            "identifier",
            gettext_lazy("has identifier"),
            CONTACT,
            "exists",
            params=(
                Param(
                    "type",
                    "choice",
                    gettext_lazy("identifier type"),
                    required=True,
                    choices=_values(IdentifierType),
                ),
                Param("verified", "bool", gettext_lazy("verified only")),
            ),
        ),
        FieldSpec(
            "consent",
            gettext_lazy("consent"),
            CONTACT,
            "choice",
            _values(ConsentStatus),
            params=(
                Param(
                    "channel",
                    "choice",
                    gettext_lazy("channel"),
                    required=True,
                    choices=_values(ConsentChannel),
                ),
                Param(
                    "purpose",
                    "choice",
                    gettext_lazy("purpose"),
                    required=True,
                    choices=_values(ConsentPurpose),
                ),
            ),
        ),
        FieldSpec("province", gettext_lazy("province"), GEOGRAPHY, "text"),
        FieldSpec("city", gettext_lazy("city"), GEOGRAPHY, "text"),
        FieldSpec("district", gettext_lazy("district"), GEOGRAPHY, "text"),
        FieldSpec("postcode", gettext_lazy("postcode"), GEOGRAPHY, "text"),
        FieldSpec("branch", gettext_lazy("branch (code)"), GEOGRAPHY, "choice"),
        FieldSpec("branch_region", gettext_lazy("branch region"), GEOGRAPHY, "choice"),
        FieldSpec(
            "quality_grade", gettext_lazy("data quality grade"), SCORES, "number"
        ),
        FieldSpec("rfm_cell", gettext_lazy("RFM cell"), SCORES, "choice"),
        FieldSpec("rfm_r", gettext_lazy("R score"), SCORES, "number"),
        FieldSpec("rfm_f", gettext_lazy("F score"), SCORES, "number"),
        FieldSpec("rfm_m", gettext_lazy("M score"), SCORES, "number"),
        FieldSpec("value_tier", gettext_lazy("value tier"), SCORES, "choice"),
        FieldSpec("profit", gettext_lazy("profit"), SCORES, "number"),
        FieldSpec("clv", gettext_lazy("lifetime value"), SCORES, "number"),
        FieldSpec("p_alive", gettext_lazy("probability alive"), SCORES, "number"),
        FieldSpec("cluster", gettext_lazy("cluster"), SCORES, "number"),
        FieldSpec("churn_score", gettext_lazy("churn score"), SCORES, "number"),
        FieldSpec("response_score", gettext_lazy("response score"), SCORES, "number"),
        FieldSpec(
            "lookalike_score", gettext_lazy("look-alike score"), SCORES, "number"
        ),
        FieldSpec(
            "bought",
            gettext_lazy("bought"),
            BEHAVIOUR,
            "exists",
            params=(
                Param("product", "list", gettext_lazy("product SKUs")),
                Param("category", "list", gettext_lazy("product categories")),
                WINDOW,
            ),
        ),
        FieldSpec(
            "spent",
            gettext_lazy("spent (net of returns)"),
            BEHAVIOUR,
            "aggregate",
            params=(WINDOW,),
        ),
        FieldSpec(
            "order_count",
            gettext_lazy("number of orders"),
            BEHAVIOUR,
            "aggregate",
            params=(
                Param(
                    "channel",
                    "choices",
                    gettext_lazy("sales channel"),
                    choices=_values(SalesChannel),
                ),
                WINDOW,
            ),
        ),
        FieldSpec(
            "days_since_purchase",
            gettext_lazy("days since last purchase"),
            BEHAVIOUR,
            "number",
        ),
        FieldSpec(
            "interaction",
            gettext_lazy("had an interaction"),
            BEHAVIOUR,
            "exists",
            params=(
                *interaction_params[:2],
                Param(
                    "direction",
                    "choice",
                    gettext_lazy("direction"),
                    choices=_values(Direction),
                ),
                WINDOW,
            ),
        ),
        FieldSpec(
            "contacted",
            gettext_lazy("was contacted"),
            BEHAVIOUR,
            "exists",
            params=interaction_params,
        ),
        FieldSpec(
            "responded",
            gettext_lazy("responded / got in touch"),
            BEHAVIOUR,
            "exists",
            params=interaction_params,
        ),
        FieldSpec(
            "complained",
            gettext_lazy("complained"),
            BEHAVIOUR,
            "exists",
            params=(interaction_params[0], WINDOW),
        ),
        FieldSpec(
            "segment",
            gettext_lazy("member of segment"),
            OTHER,
            "exists",
            params=(Param("segment", "text", gettext_lazy("segment"), required=True),),
        ),
        FieldSpec(
            "selected",
            gettext_lazy("selected in a campaign"),
            OTHER,
            "exists",
            params=(
                Param("purpose", "text", gettext_lazy("campaign or list name")),
                Param("channel", "text", gettext_lazy("channel")),
                WINDOW,
            ),
        ),
        FieldSpec(
            "campaign",
            gettext_lazy("member of a campaign"),
            OTHER,
            "exists",
            params=(
                Param("campaign", "text", gettext_lazy("campaign name"), required=True),
                Param(
                    "arm",
                    "text",
                    gettext_lazy("arm: control, treated or a variant code"),
                ),
                Param("responded", "bool", gettext_lazy("responded")),
            ),
        ),
    ]
    return {s.name: s for s in specs}


FIELDS: dict[str, FieldSpec] = _specs()

CUSTOM_FIELD_TYPE = {
    FieldType.TEXT: "text",
    FieldType.CHOICE: "choice",
    FieldType.INTEGER: "number",
    FieldType.DECIMAL: "number",
    FieldType.DATE: "date",
    FieldType.BOOLEAN: "bool",
}
BOOL_CUSTOM_OPS = ("eq", "is_set", "not_set")


# Validation ---------------------------------------------------------------


@dataclass
class Problem:
    code: str
    path: str
    message: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        data = {"code": self.code, "field": self.path, "message": self.message}
        if self.value is not None:
            data["value"] = str(self.value)
        return data


class _Checker:
    def __init__(self, *, segment_uuid: str | None) -> None:
        self.problems: list[Problem] = []
        self.segment_uuid = segment_uuid
        self.count = 0
        self.custom_types: dict[str, str] | None = None

    def fail(self, code: str, path: str, message: str, value: Any = None) -> None:
        self.problems.append(Problem(str(code), path, str(message), value))

    # groups ---------------------------------------------------------------

    def group(self, node: Any, path: str, depth: int) -> None:
        where = path or "definition"
        if not isinstance(node, dict):
            self.fail(
                ErrorCode.INVALID_DEFINITION,
                where,
                _("A group must be an object with “match” and “conditions”."),
            )
            return
        if depth > MAX_DEPTH:
            self.fail(
                ErrorCode.TOO_DEEP,
                where,
                _("Groups may be nested at most %(n)d deep.") % {"n": MAX_DEPTH},
            )
            return
        match = node.get("match", "all")
        if match not in ("all", "any"):
            self.fail(
                ErrorCode.INVALID_VALUE,
                _join(path, "match"),
                _("“match” must be “all” or “any”."),
                match,
            )
        self._negate(node, path)
        allowed = {"match", "negate", "conditions"} | (
            {"version"} if not path else set()
        )
        self._unknown_keys(node, allowed, path)
        children = node.get("conditions", [])
        if not isinstance(children, list):
            self.fail(
                ErrorCode.INVALID_DEFINITION,
                _join(path, "conditions"),
                _("“conditions” must be a list."),
            )
            return
        if path and not children:
            self.fail(
                ErrorCode.INVALID_DEFINITION,
                _join(path, "conditions"),
                _("A group needs at least one condition."),
            )
        for i, child in enumerate(children):
            child_path = f"{_join(path, 'conditions')}[{i}]"
            if isinstance(child, dict) and "conditions" in child:
                self.group(child, child_path, depth + 1)
            else:
                self.condition(child, child_path)

    def _negate(self, node: dict, path: str) -> None:
        if not isinstance(node.get("negate", False), bool):
            self.fail(
                ErrorCode.INVALID_VALUE,
                _join(path, "negate"),
                _("“negate” must be true or false."),
                node.get("negate"),
            )

    def _unknown_keys(self, node: dict, allowed: set[str], path: str) -> None:
        for key in node:
            if key not in allowed:
                self.fail(
                    ErrorCode.INVALID_DEFINITION,
                    _join(path, str(key)),
                    _("Unknown key “%(key)s”.") % {"key": key},
                    key,
                )

    # conditions -----------------------------------------------------------

    def condition(self, node: Any, path: str) -> None:
        self.count += 1
        if self.count == MAX_CONDITIONS + 1:
            self.fail(
                ErrorCode.INVALID_DEFINITION,
                path,
                _("A segment may have at most %(n)d conditions.")
                % {"n": MAX_CONDITIONS},
            )
        if not isinstance(node, dict):
            self.fail(
                ErrorCode.INVALID_DEFINITION,
                path,
                _("A condition must be an object with “field” and “op”."),
            )
            return
        spec = FIELDS.get(node.get("field"))
        if spec is None:
            self.fail(
                ErrorCode.UNKNOWN_FIELD,
                f"{path}.field",
                _("Unknown field “%(field)s”.") % {"field": node.get("field")},
                node.get("field"),
            )
            return
        self._negate(node, path)
        allowed = {"field", "op", "value", "negate"} | {p.name for p in spec.params}
        self._unknown_keys(node, allowed, path)
        for param in spec.params:
            self.param(node, param, path)
        type_, ops = spec.type, spec.ops
        if spec.name == "custom":
            type_ = self.custom_type(node.get("key"), path)
            if type_ is None:
                return
            ops = BOOL_CUSTOM_OPS if type_ == "bool" else OPS_BY_TYPE[type_]
        if spec.name == "segment":
            self.segment_ref(node.get("segment"), f"{path}.segment")
        op = node.get("op", "exists" if spec.type == "exists" else None)
        if op not in ops:
            self.fail(
                ErrorCode.UNKNOWN_OPERATOR,
                f"{path}.op",
                _("Operator “%(op)s” does not apply to %(field)s; use one of %(ops)s.")
                % {"op": op, "field": spec.label, "ops": ", ".join(ops)},
                op,
            )
            return
        self.value(node.get("value"), op, type_, spec, f"{path}.value")

    def value(self, value: Any, op: str, type_: str, spec: FieldSpec, path: str):
        if op in ("is_set", "not_set", "exists"):
            if value is not None:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("This operator takes no value."),
                    value,
                )
            return
        if op == "in":
            if not isinstance(value, list) or not value:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("“is one of” needs a non-empty list."),
                    value,
                )
                return
            for i, item in enumerate(value):
                self.scalar(item, type_, spec, f"{path}[{i}]")
            return
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("“between” needs a list of two values."),
                    value,
                )
                return
            low = self.scalar(value[0], type_, spec, f"{path}[0]")
            high = self.scalar(value[1], type_, spec, f"{path}[1]")
            if low is not None and high is not None and low > high:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("The first value must not be greater than the second."),
                    value,
                )
            return
        self.scalar(value, type_, spec, path)

    def scalar(self, value: Any, type_: str, spec: FieldSpec, path: str) -> Any:
        if type_ in ("number", "aggregate"):
            number = parse_number(value)
            if number is None:
                self.fail(
                    ErrorCode.INVALID_VALUE, path, _("A number is needed."), value
                )
            return number
        if type_ == "date":
            day = parse_date(value)
            if day is None:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("A date is needed (YYYY-MM-DD)."),
                    value,
                )
            return day
        if type_ == "bool":
            if not isinstance(value, bool):
                self.fail(
                    ErrorCode.INVALID_VALUE, path, _("true or false is needed."), value
                )
            return value
        if not isinstance(value, str) or not value.strip():
            self.fail(ErrorCode.INVALID_VALUE, path, _("A text is needed."), value)
            return None
        if spec.choices and value not in spec.choices:
            self.fail(
                ErrorCode.INVALID_VALUE,
                path,
                _("“%(value)s” is not one of %(choices)s.")
                % {"value": value, "choices": ", ".join(spec.choices)},
                value,
            )
        return value

    def param(self, node: dict, param: Param, path: str) -> None:
        where = f"{path}.{param.name}"
        value = node.get(param.name)
        if value is None or value == [] or value == "":
            if param.required:
                self.fail(
                    ErrorCode.MISSING_PARAMETER,
                    where,
                    _("“%(name)s” is required here.") % {"name": param.label},
                )
            return
        if param.kind == "window":
            self.window(value, where)
        elif param.kind == "bool":
            if not isinstance(value, bool):
                self.fail(
                    ErrorCode.INVALID_VALUE, where, _("true or false is needed."), value
                )
        elif param.kind in ("list", "choices"):
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                item_path = f"{where}[{i}]" if isinstance(value, list) else where
                self.text_param(item, param, item_path)
        else:
            self.text_param(value, param, where)

    def text_param(self, value: Any, param: Param, path: str) -> None:
        if not isinstance(value, str) or not value.strip():
            self.fail(ErrorCode.INVALID_VALUE, path, _("A text is needed."), value)
        elif param.choices and value not in param.choices:
            self.fail(
                ErrorCode.INVALID_VALUE,
                path,
                _("“%(value)s” is not one of %(choices)s.")
                % {"value": value, "choices": ", ".join(param.choices)},
                value,
            )

    def window(self, value: Any, path: str) -> None:
        if not isinstance(value, dict) or not value:
            self.fail(
                ErrorCode.INVALID_VALUE,
                path,
                _("A window is {“last_days”: N} or {“from”: date, “to”: date}."),
                value,
            )
            return
        self._unknown_keys(value, {"last_days", "from", "to"}, path)
        if "last_days" in value:
            days = value["last_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    f"{path}.last_days",
                    _("A whole number of days is needed."),
                    days,
                )
            if "from" in value or "to" in value:
                self.fail(
                    ErrorCode.INVALID_VALUE,
                    path,
                    _("Give either “last_days” or “from”/“to”, not both."),
                )
            return
        bounds = {}
        for key in ("from", "to"):
            if key in value:
                bounds[key] = parse_date(value[key])
                if bounds[key] is None:
                    self.fail(
                        ErrorCode.INVALID_VALUE,
                        f"{path}.{key}",
                        _("A date is needed (YYYY-MM-DD)."),
                        value[key],
                    )
        if bounds.get("from") and bounds.get("to") and bounds["from"] > bounds["to"]:
            self.fail(
                ErrorCode.INVALID_VALUE,
                path,
                _("“from” must not be after “to”."),
                value,
            )

    def custom_type(self, key: Any, path: str) -> str | None:
        from clientbook.customers.models import CustomField

        if not isinstance(key, str) or not key:
            return None  # reported as a missing parameter
        if self.custom_types is None:
            self.custom_types = dict(
                CustomField.objects.values_list("key", "field_type")
            )
        field_type = self.custom_types.get(key)
        if field_type is None:
            self.fail(
                ErrorCode.UNKNOWN_CUSTOM_FIELD,
                f"{path}.key",
                _("There is no custom field “%(key)s”.") % {"key": key},
                key,
            )
            return None
        return CUSTOM_FIELD_TYPE[field_type]

    def segment_ref(self, ref: Any, path: str) -> None:
        if not isinstance(ref, str) or not ref:
            return  # reported as a missing parameter
        target = segment_by_ref(ref)
        if target is None:
            self.fail(
                ErrorCode.UNKNOWN_SEGMENT,
                path,
                _("There is no segment “%(ref)s”.") % {"ref": ref},
                ref,
            )
            return
        chain = _reference_chain(target, self.segment_uuid, seen=set())
        if chain is not None:
            self.fail(
                ErrorCode.SEGMENT_CYCLE,
                path,
                _("This would make a segment contain itself: %(chain)s.")
                % {"chain": " → ".join(chain)},
                ref,
            )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def segment_by_ref(ref: str):
    """A live segment by UUID or name, or None."""
    from clientbook.segments.models import Segment

    live = Segment.objects.filter(archived_at__isnull=True)
    try:
        return live.filter(uuid=uuid_lib.UUID(str(ref))).first()
    except ValueError:
        return live.filter(name=ref).first()


def segment_refs(definition: Any) -> list[str]:
    """The segment references anywhere in a definition."""
    found: list[str] = []
    if isinstance(definition, dict):
        if definition.get("field") == "segment" and isinstance(
            definition.get("segment"), str
        ):
            found.append(definition["segment"])
        for child in definition.get("conditions", []) or []:
            found.extend(segment_refs(child))
    elif isinstance(definition, list):
        for child in definition:
            found.extend(segment_refs(child))
    return found


def _reference_chain(target, origin: str | None, *, seen: set) -> list | None:
    """The names from `target` back to the segment `origin` through references,
    or None when `target` does not lead back to it (nor loops by itself)."""
    key = str(target.uuid)
    if origin is not None and key == origin:
        return [target.name]
    if key in seen:
        return [target.name]  # a loop among stored segments
    seen = seen | {key}
    for ref in segment_refs(target.definition):
        nxt = segment_by_ref(ref)
        if nxt is None:
            continue
        chain = _reference_chain(nxt, origin, seen=seen)
        if chain is not None:
            return [target.name, *chain]
    return None


def parse_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def parse_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def normalise(definition: Any) -> Any:
    """A top-level group with its defaults filled in (version, match)."""
    if isinstance(definition, dict) and "conditions" in definition:
        return {"version": VERSION, "match": "all", **definition}
    return definition


def _refs_to_uuids(node: Any) -> Any:
    """A copy where segments named by name are named by UUID, so renaming
    a segment does not break the segments that use it."""
    if not isinstance(node, dict):
        return node
    if "conditions" in node:
        return {**node, "conditions": [_refs_to_uuids(c) for c in node["conditions"]]}
    if node.get("field") == "segment":
        target = segment_by_ref(node["segment"])
        return {**node, "segment": str(target.uuid)} if target else node
    return node


def problems(definition: Any, *, segment_uuid: str | None = None) -> list[Problem]:
    """Every problem in `definition`, each with the path of its node."""
    checker = _Checker(segment_uuid=segment_uuid)
    if not isinstance(definition, dict):
        checker.fail(
            ErrorCode.INVALID_DEFINITION,
            "definition",
            _("A segment definition must be a JSON object."),
        )
        return checker.problems
    version = definition.get("version", VERSION)
    if version != VERSION:
        checker.fail(
            ErrorCode.UNSUPPORTED_VERSION,
            "version",
            _("Version %(version)s of the segment language is not supported.")
            % {"version": version},
            version,
        )
        return checker.problems
    checker.group(definition, "", 1)
    return checker.problems


def validate(definition: Any, *, segment_uuid: str | None = None) -> dict:
    """The definition with its defaults, or ValidationFailed naming the first
    bad node in `field` and all of them in `errors`.

    `segment_uuid` is the segment being saved, so a reference back to it
    (directly or through other segments) is refused as a cycle."""
    found = problems(definition, segment_uuid=segment_uuid)
    if found:
        first = found[0]
        raise ValidationFailed(
            first.code,
            first.message,
            field=first.path,
            value=first.value,
            details={"errors": [p.as_dict() for p in found]},
        )
    return _refs_to_uuids(normalise(definition))
