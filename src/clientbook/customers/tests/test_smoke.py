from clientbook.customers.services import customer_create


def test_create_customer_with_identifiers(source, branch, admin_user):
    customer = customer_create(
        name="张三",
        source=source,
        branch=branch,
        actor=admin_user,
        identifiers=[{"type": "mobile", "value": "138 0013 8000"}],
    )
    assert customer.name_pinyin == "zhangsan"
    assert customer.identifiers.get().value == "+8613800138000"
