"""Channels: how a variant's message reaches a member (e-mail, SMS, direct
mail, phone and visit call lists). `check(variant)` validates a variant's
message for its channel when it is saved."""


def check(variant) -> None:
    """Raises ValidationFailed when the variant's message cannot be sent on
    its channel."""
