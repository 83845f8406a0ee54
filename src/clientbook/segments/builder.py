"""The web builder's form encoding: a definition as rows of named inputs, and
back.

Every node (group or condition) has a short id; the form posts, in page
order, ``node=<id>`` with ``<id>-parent`` and ``<id>-kind``, a group's
``<id>-match`` / ``<id>-negate``, a condition's ``<id>-field``, ``<id>-op``,
``<id>-value`` (``<id>-value2`` for between) and ``<id>-p-<param>``. Rows
are added and removed in the page (htmx partials), so ids, not positions,
tie the inputs together. Whatever the user typed is kept, valid or not; the
language's validation says what is wrong and where.
"""

import uuid
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from clientbook.segments import language

ROOT = "root"


def _choice_labels() -> dict[str, Any]:
    """Display labels for the choice values the builder offers."""
    from clientbook.activity.models import (
        Direction,
        InteractionChannel,
        InteractionType,
    )
    from clientbook.customers.models import (
        CustomerKind,
        Gender,
        IdentifierType,
        IncomeBand,
        LifecycleStage,
    )
    from clientbook.privacy.models import ConsentChannel, ConsentPurpose, ConsentStatus
    from clientbook.sales.models import SalesChannel

    labels: dict[str, Any] = {}
    for choices in (
        SalesChannel,
        InteractionType,
        InteractionChannel,
        Direction,
        ConsentPurpose,
        ConsentChannel,
        ConsentStatus,
        IdentifierType,
        LifecycleStage,
        IncomeBand,
        CustomerKind,
        Gender,
    ):
        labels.update({value: label for value, label in choices.choices if value})
    return labels


NO_VALUE_OPS = ("is_set", "not_set", "exists")
CUSTOM_OPS = (
    "eq",
    "in",
    "contains",
    "startswith",
    "gte",
    "lte",
    "between",
    "is_set",
    "not_set",
)


def new_id() -> str:
    return "n" + uuid.uuid4().hex[:8]


@dataclass
class Node:
    id: str
    parent: str
    kind: str  # "group" | "condition"
    match: str = "all"
    negate: bool = False
    children: list["Node"] = dc_field(default_factory=list)
    field: str = ""
    op: str = ""
    value: str = ""
    value2: str = ""
    params: dict[str, Any] = dc_field(default_factory=dict)

    @property
    def spec(self) -> language.FieldSpec | None:
        return language.FIELDS.get(self.field)

    @property
    def ops(self) -> list[tuple[str, Any]]:
        spec = self.spec
        if spec is None:
            return []
        ops = CUSTOM_OPS if spec.name == "custom" else spec.ops
        return [(op, language.OP_LABELS[op]) for op in ops]

    @property
    def shows_value(self) -> bool:
        return bool(self.spec) and self.current_op not in NO_VALUE_OPS

    @property
    def current_op(self) -> str:
        ops = [op for op, _label in self.ops]
        return self.op if self.op in ops else (ops[0] if ops else "")

    @property
    def param_rows(self) -> list[tuple[language.Param, Any, list]]:
        spec = self.spec
        return [
            (p, self.params.get(p.name), labelled(p.choices))
            for p in (spec.params if spec else ())
        ]

    @property
    def value_choices(self) -> list[tuple[str, Any]]:
        spec = self.spec
        if not spec or self.current_op != "eq":
            return []
        return labelled(spec.choices)


def labelled(values) -> list[tuple[str, Any]]:
    labels = _choice_labels()
    return [(v, labels.get(v, v)) for v in values]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def tree(definition: Any) -> Node:
    """The builder rows for a stored (or half-typed) definition."""
    root = Node(id=ROOT, parent="", kind="group")
    if isinstance(definition, dict):
        _fill_group(root, definition)
    return root


def _fill_group(node: Node, data: dict) -> None:
    node.match = "any" if data.get("match") == "any" else "all"
    node.negate = data.get("negate") is True
    for child in data.get("conditions") or []:
        if not isinstance(child, dict):
            continue
        if "conditions" in child:
            group = Node(id=new_id(), parent=node.id, kind="group")
            _fill_group(group, child)
            node.children.append(group)
        else:
            node.children.append(condition_node(child, parent=node.id))


def condition_node(data: dict, *, parent: str, id: str | None = None) -> Node:
    value = data.get("value")
    value2 = ""
    if data.get("op") == "between" and isinstance(value, list) and len(value) == 2:
        value, value2 = value
    params = {}
    spec = language.FIELDS.get(data.get("field"))
    for param in spec.params if spec else ():
        raw = data.get(param.name)
        if param.kind == "window":
            params[param.name] = raw if isinstance(raw, dict) else {}
        elif param.kind == "choices":
            params[param.name] = raw if isinstance(raw, list) else _as_list(raw)
        elif param.kind == "bool":
            params[param.name] = raw is True
        else:
            params[param.name] = _text(raw)
    return Node(
        id=id or new_id(),
        parent=parent,
        kind="condition",
        negate=data.get("negate") is True,
        field=str(data.get("field") or ""),
        op=str(data.get("op") or ""),
        value=_text(value),
        value2=_text(value2),
        params=params,
    )


def _as_list(raw: Any) -> list:
    if raw in (None, ""):
        return []
    return raw if isinstance(raw, list) else [raw]


# From the posted form ---------------------------------------------------------


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


def _typed(text: str, type_: str) -> Any:
    """Numbers as JSON numbers when they are ones, so the stored definition
    reads naturally; anything else stays text for validation to judge."""
    text = text.strip()
    if type_ in ("number", "aggregate"):
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                continue
    return text


def _value_type(spec: language.FieldSpec) -> str:
    # A custom field's type is only known from the database; its values stay
    # text, which validation and the compiler read as numbers or dates.
    return "text" if spec.name == "custom" else spec.type


def condition_from(data, node_id: str) -> dict:
    """One condition from the inputs prefixed `node_id`."""
    get = lambda key: (data.get(f"{node_id}-{key}") or "").strip()  # noqa: E731
    spec = language.FIELDS.get(get("field"))
    if spec is None:
        return {"field": get("field"), "op": get("op")}
    ops = CUSTOM_OPS if spec.name == "custom" else spec.ops
    op = get("op") if get("op") in ops else ops[0]
    condition: dict[str, Any] = {"field": spec.name, "op": op}
    type_ = _value_type(spec)
    if op == "in":
        condition["value"] = [_typed(v, type_) for v in _split(get("value"))]
    elif op == "between":
        condition["value"] = [_typed(get("value"), type_), _typed(get("value2"), type_)]
    elif op not in NO_VALUE_OPS:
        condition["value"] = _typed(get("value"), type_)
    for param in spec.params:
        value = _param_from(data, node_id, param)
        if value not in (None, "", [], {}):
            condition[param.name] = value
    if data.get(f"{node_id}-negate"):
        condition["negate"] = True
    return condition


def _param_from(data, node_id: str, param: language.Param) -> Any:
    key = f"{node_id}-p-{param.name}"
    if param.kind == "window":
        days = (data.get(f"{key}-last_days") or "").strip()
        if days:
            return {"last_days": int(days) if days.isdigit() else days}
        bounds = {
            bound: (data.get(f"{key}-{bound}") or "").strip()
            for bound in ("from", "to")
        }
        return {k: v for k, v in bounds.items() if v}
    if param.kind == "choices":
        return [v for v in data.getlist(key) if v]
    if param.kind == "list":
        return _split(data.get(key) or "")
    if param.kind == "bool":
        return True if data.get(key) else None
    return (data.get(key) or "").strip()


def definition_from(data) -> dict:
    """The definition the builder's inputs describe, in page order."""
    groups: dict[str, dict] = {
        ROOT: {
            "version": language.VERSION,
            "match": "any" if data.get(f"{ROOT}-match") == "any" else "all",
            "conditions": [],
        }
    }
    if data.get(f"{ROOT}-negate"):
        groups[ROOT]["negate"] = True
    for node_id in data.getlist("node"):
        parent = groups.get(data.get(f"{node_id}-parent") or ROOT, groups[ROOT])
        if data.get(f"{node_id}-kind") == "group":
            group: dict[str, Any] = {
                "match": "any" if data.get(f"{node_id}-match") == "any" else "all",
                "conditions": [],
            }
            if data.get(f"{node_id}-negate"):
                group["negate"] = True
            groups[node_id] = group
            parent["conditions"].append(group)
        else:
            parent["conditions"].append(condition_from(data, node_id))
    return groups[ROOT]


def field_groups() -> list[tuple[Any, list[language.FieldSpec]]]:
    """The fields by group, in the order the language lists them."""
    grouped: dict[str, tuple[Any, list]] = {}
    for spec in language.FIELDS.values():
        grouped.setdefault(str(spec.group), (spec.group, []))[1].append(spec)
    return list(grouped.values())
