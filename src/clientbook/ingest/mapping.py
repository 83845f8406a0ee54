"""Column mapping: which field each column of a file fills.

A mapping is {column header: target}. Targets are plain field names
("name", "mobile", "birth_date"…) or prefixed ones for open-ended fields:
"custom:<key>", "preference:<key>", "consent:<channel>:<purpose>",
"key_date:<kind>". "" means the column is ignored.
"""

import re

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from clientbook.customers.models import CustomField, KeyDateKind
from clientbook.errors import ValidationFailed
from clientbook.privacy.models import ConsentChannel, ConsentPurpose

IDENTIFIER_TARGETS = [
    "mobile",
    "landline",
    "phone",
    "national_id",
    "passport",
    "email",
    "wechat",
    "membership",
    "loyalty",
    "external_id",
]

CUSTOMER_TARGETS = {
    "name": gettext_lazy("Name"),
    "family_name": gettext_lazy("Family name"),
    "given_name": gettext_lazy("Given name"),
    "kind": gettext_lazy("Kind"),
    "gender": gettext_lazy("Gender"),
    "birth_date": gettext_lazy("Birth date"),
    "occupation": gettext_lazy("Occupation"),
    "employer": gettext_lazy("Employer"),
    "position": gettext_lazy("Position"),
    "income_band": gettext_lazy("Income band"),
    "lifecycle_stage": gettext_lazy("Lifecycle stage"),
    "branch": gettext_lazy("Branch"),
    "tags": gettext_lazy("Tags"),
    "notes": gettext_lazy("Notes"),
    "mobile": gettext_lazy("Mobile"),
    "landline": gettext_lazy("Landline"),
    "phone": gettext_lazy("Phone (mobile or landline)"),
    "national_id": gettext_lazy("National ID"),
    "passport": gettext_lazy("Passport"),
    "email": gettext_lazy("Email"),
    "wechat": gettext_lazy("WeChat"),
    "membership": gettext_lazy("Membership number"),
    "loyalty": gettext_lazy("Loyalty number"),
    "external_id": gettext_lazy("ID in the source system"),
    "address": gettext_lazy("Address (one line)"),
    "address_type": gettext_lazy("Address type"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "district": gettext_lazy("District / county"),
    "street": gettext_lazy("Street"),
    "postcode": gettext_lazy("Postcode"),
}

ORDER_TARGETS = {
    "order_number": gettext_lazy("Order number"),
    "ordered_at": gettext_lazy("Order time"),
    "sku": gettext_lazy("SKU"),
    "quantity": gettext_lazy("Quantity"),
    "unit_price": gettext_lazy("Unit price"),
    "amount": gettext_lazy("Line amount"),
    "channel": gettext_lazy("Sales channel"),
    "branch": gettext_lazy("Branch"),
    **{k: CUSTOMER_TARGETS[k] for k in IDENTIFIER_TARGETS},
}

INTERACTION_TARGETS = {
    "occurred_at": gettext_lazy("Time"),
    "channel": gettext_lazy("Channel"),
    "direction": gettext_lazy("Direction"),
    "type": gettext_lazy("Type"),
    "summary": gettext_lazy("Summary"),
    "outcome": gettext_lazy("Outcome"),
    **{k: CUSTOMER_TARGETS[k] for k in IDENTIFIER_TARGETS},
}

TARGETS = {
    "customers": CUSTOMER_TARGETS,
    "orders": ORDER_TARGETS,
    "interactions": INTERACTION_TARGETS,
}

# Header spellings seen in Chinese and English exports, per target.
SYNONYMS = {
    "name": [
        "姓名",
        "名字",
        "客户姓名",
        "客户名称",
        "名称",
        "会员姓名",
        "联系人",
        "name",
        "fullname",
        "customername",
        "contactname",
    ],
    "family_name": ["姓", "姓氏", "surname", "familyname", "lastname"],
    "given_name": ["名", "名字（不含姓）", "givenname", "firstname"],
    "gender": ["性别", "gender", "sex"],
    "birth_date": [
        "生日",
        "出生日期",
        "出生年月日",
        "出生年月",
        "birthday",
        "birthdate",
        "dateofbirth",
        "dob",
    ],
    "mobile": [
        "手机",
        "手机号",
        "手机号码",
        "移动电话",
        "mobile",
        "cell",
        "cellphone",
        "mobilephone",
        "mobileno",
    ],
    "phone": ["电话", "联系电话", "电话号码", "联系方式", "phone", "telephone", "tel"],
    "landline": ["座机", "固定电话", "固话", "办公电话", "landline"],
    "national_id": [
        "身份证",
        "身份证号",
        "身份证号码",
        "证件号码",
        "证件号",
        "nationalid",
        "idcard",
        "idnumber",
        "idno",
        "ric",
    ],
    "passport": ["护照", "护照号", "护照号码", "passport", "passportno"],
    "email": [
        "邮箱",
        "电子邮件",
        "电子邮箱",
        "邮件",
        "email",
        "e-mail",
        "mail",
        "emailaddress",
    ],
    "wechat": ["微信", "微信号", "wechat", "weixin"],
    "membership": [
        "会员号",
        "会员卡号",
        "会员编号",
        "会员卡",
        "卡号",
        "membership",
        "memberno",
        "membernumber",
        "membershipnumber",
        "memberid",
    ],
    "loyalty": ["积分卡号", "积分卡", "loyalty", "loyaltynumber"],
    "external_id": [
        "客户编号",
        "客户号",
        "客户id",
        "编号",
        "id",
        "customerid",
        "externalid",
        "customerno",
    ],
    "address": [
        "地址",
        "住址",
        "联系地址",
        "通讯地址",
        "家庭地址",
        "收货地址",
        "address",
    ],
    "province": ["省", "省份", "province"],
    "city": ["市", "城市", "city"],
    "district": ["区", "区县", "县区", "区/县", "district", "county"],
    "street": ["街道", "详细地址", "街道地址", "street"],
    "postcode": ["邮编", "邮政编码", "postcode", "zip", "zipcode", "postalcode"],
    "occupation": ["职业", "occupation", "job"],
    "employer": ["单位", "工作单位", "公司", "employer", "company"],
    "position": ["职务", "职位", "position", "title", "jobtitle"],
    "income_band": ["收入", "月收入", "收入水平", "income", "incomeband"],
    "notes": ["备注", "说明", "notes", "note", "remark", "remarks", "comment"],
    "tags": ["标签", "tags", "tag"],
    "branch": [
        "网点",
        "门店",
        "所属网点",
        "所属门店",
        "分行",
        "支行",
        "branch",
        "store",
        "shop",
    ],
    "lifecycle_stage": ["客户状态", "生命周期", "lifecyclestage", "stage"],
    "kind": ["客户类型", "类型", "kind", "customertype"],
    "order_number": [
        "订单号",
        "单号",
        "订单编号",
        "ordernumber",
        "orderno",
        "orderid",
        "invoiceno",
        "invoice",
    ],
    "ordered_at": [
        "下单时间",
        "交易时间",
        "订单日期",
        "购买日期",
        "日期",
        "orderdate",
        "invoicedate",
        "date",
        "time",
        "orderedat",
    ],
    "sku": [
        "商品编码",
        "货号",
        "商品编号",
        "sku",
        "productcode",
        "stockcode",
        "itemcode",
    ],
    "quantity": ["数量", "qty", "quantity"],
    "unit_price": ["单价", "price", "unitprice"],
    "amount": ["金额", "实付金额", "小计", "amount", "lineamount", "total"],
    "channel": ["渠道", "销售渠道", "联系渠道", "channel"],
    "occurred_at": ["联系时间", "时间", "发生时间", "occurredat", "contactedat"],
    "direction": ["方向", "呼入呼出", "direction"],
    "type": ["接触类型", "联系类型", "type", "interactiontype"],
    "summary": ["内容", "摘要", "记录", "summary", "content"],
    "outcome": ["结果", "处理结果", "outcome", "result"],
}


# Opt-in columns: a yes/no per channel, for marketing unless said otherwise.
CONSENT_SYNONYMS = {
    "consent:sms:marketing": [
        "短信营销",
        "接收短信",
        "同意短信",
        "短信订阅",
        "smsoptin",
        "smsmarketing",
    ],
    "consent:email:marketing": [
        "邮件营销",
        "接收邮件",
        "同意邮件",
        "邮件订阅",
        "emailoptin",
        "emailmarketing",
        "newsletter",
    ],
    "consent:phone:marketing": ["电话营销", "接受电话", "同意电话", "phoneoptin"],
    "consent:mail:marketing": ["直邮", "接收直邮", "同意直邮", "mailoptin"],
    "consent:visit:marketing": ["上门拜访", "同意拜访", "visitoptin"],
}


def _key(header: str) -> str:
    return re.sub(r"[\s_\-:：()（）]+", "", header).lower()


_LOOKUP = {_key(s): target for target, names in SYNONYMS.items() for s in names}
_CONSENT_LOOKUP = {
    _key(s): target for target, names in CONSENT_SYNONYMS.items() for s in names
}


def suggest_mapping(
    headers: list[str], *, kind: str, custom_fields=()
) -> dict[str, str]:
    """A best guess at the mapping from the headers; each target used once."""
    allowed = TARGETS[kind]
    by_label = {_key(f.label): f"custom:{f.key}" for f in custom_fields}
    by_label.update({_key(f.key): f"custom:{f.key}" for f in custom_fields})
    by_label.update(_CONSENT_LOOKUP)
    mapping, used = {}, set()
    for header in headers:
        key = _key(header)
        target = _LOOKUP.get(key) if _LOOKUP.get(key) in allowed else by_label.get(key)
        if kind != "customers" and target and ":" in target:
            target = None
        if target and target not in used:
            mapping[header], _ = target, used.add(target)
        else:
            mapping[header] = ""
    return mapping


def validate_mapping(mapping: dict[str, str], *, kind: str, headers: list[str]) -> None:
    """Refuses a mapping that names unknown columns or targets, or lacks a must."""
    allowed = TARGETS[kind]
    custom = set(CustomField.objects.values_list("key", flat=True))
    for column, target in mapping.items():
        if column not in headers:
            raise ValidationFailed(
                "unknown_column",
                _("The file has no column “%(column)s”.") % {"column": column},
                field="mapping",
                value=column,
            )
        if (
            target
            and target not in allowed
            and not _open_target_ok(target, kind, custom)
        ):
            raise ValidationFailed(
                "unknown_target",
                _("“%(target)s” is not a field that can be imported.")
                % {"target": target},
                field=f"mapping.{column}",
                value=target,
            )
    targets = [t for t in mapping.values() if t]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise ValidationFailed(
            "duplicate_target",
            _("Two columns are mapped to “%(target)s”.") % {"target": duplicates[0]},
            field="mapping",
            value=duplicates[0],
        )
    for must in REQUIRED[kind]:
        if not any(t in must for t in targets):
            raise ValidationFailed(
                "missing_target",
                _("No column is mapped to %(fields)s.")
                % {"fields": " / ".join(str(TARGETS[kind][m]) for m in must)},
                field="mapping",
                value=must[0],
            )


REQUIRED = {
    "customers": [("name", "family_name", "given_name")],
    "orders": [("order_number",), ("ordered_at",), ("sku",), tuple(IDENTIFIER_TARGETS)],
    "interactions": [("channel",), ("type",), tuple(IDENTIFIER_TARGETS)],
}


def _open_target_ok(target: str, kind: str, custom: set[str]) -> bool:
    if kind != "customers":
        return False
    prefix, _sep, rest = target.partition(":")
    if prefix == "custom":
        return rest in custom
    if prefix == "preference":
        return bool(rest.strip())
    if prefix == "key_date":
        return rest in KeyDateKind.values
    if prefix == "consent":
        channel, _sep, purpose = rest.partition(":")
        return channel in ConsentChannel.values and purpose in ConsentPurpose.values
    return False
