"""The demo company 茗康茶业: branches, staff, products and a few thousand
customers with three years of orders, for trying Clientbook out.

`build()` loads it (once: a second call does nothing); `is_loaded()` tells.
Imports are deferred so `people` and `history` work before Django is set up.
"""


def build(**kwargs):
    from clientbook.demo.builder import build as _build

    return _build(**kwargs)


def is_loaded() -> bool:
    from clientbook.demo.builder import is_loaded as _is_loaded

    return _is_loaded()
