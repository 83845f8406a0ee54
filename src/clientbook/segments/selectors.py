"""Reads of segments: who is in one (as one lazy queryset), counts, samples
and snapshots, always narrowed to what the user may see."""

import uuid as uuid_lib
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from clientbook.customers.models import Customer
from clientbook.errors import NotFound
from clientbook.org.access import scope_by_branch
from clientbook.segments import language
from clientbook.segments.compiler import customers_matching, live_customers
from clientbook.segments.errors import ErrorCode
from clientbook.segments.models import (
    Segment,
    SegmentKind,
    SegmentMember,
    SegmentSnapshot,
)

SAMPLE_SIZE = 20


def segment_list(*, include_archived: bool = False) -> QuerySet[Segment]:
    qs = Segment.objects.select_related("created_by")
    return qs if include_archived else qs.filter(archived_at__isnull=True)


def segment_get(*, ref: Any, include_archived: bool = False) -> Segment:
    """A segment by UUID or name; NotFound otherwise."""
    qs = segment_list(include_archived=include_archived)
    try:
        found = qs.filter(uuid=uuid_lib.UUID(str(ref))).first()
    except ValueError:
        found = qs.filter(name=str(ref)).first()
    if found is None:
        raise NotFound(
            ErrorCode.NOT_FOUND,
            _("There is no segment “%(ref)s”.") % {"ref": ref},
            value=ref,
        )
    return found


def _scoped(queryset: QuerySet[Customer], user) -> QuerySet[Customer]:
    """`None` is the system itself (the CLI without --user): no scoping."""
    return queryset if user is None else scope_by_branch(queryset, user)


def segment_members_all(segment: Segment) -> QuerySet[Customer]:
    """Every live member, unscoped: a dynamic segment's definition evaluated
    now, or a static segment's latest snapshot."""
    if segment.kind == SegmentKind.STATIC:
        latest = SegmentSnapshot.objects.filter(segment_id=segment.pk).order_by(
            "-taken_at", "-id"
        )
        members = SegmentMember.objects.filter(
            customer_id=OuterRef("pk"), snapshot_id=Subquery(latest.values("id")[:1])
        )
        return live_customers().filter(Exists(members))
    return customers_matching(segment.definition, stack=(str(segment.uuid),))


def segment_queryset(segment: Segment, user) -> QuerySet[Customer]:
    """The members `user` may see, as one lazy queryset."""
    return _scoped(segment_members_all(segment), user)


def definition_queryset(definition: dict, user) -> QuerySet[Customer]:
    """The customers an unsaved definition matches (validated first)."""
    definition = language.validate(definition)
    return _scoped(customers_matching(definition), user)


def segment_count(segment: Segment, user) -> int:
    return segment_queryset(segment, user).count()


def sample_of(queryset: QuerySet[Customer], *, limit: int = SAMPLE_SIZE) -> list:
    return list(queryset.select_related("branch").order_by("pk")[:limit])


def segment_sample(segment: Segment, user, *, limit: int = SAMPLE_SIZE) -> list:
    """The first `limit` members by age of record, with their branch."""
    return sample_of(segment_queryset(segment, user), limit=limit)


def snapshot_list(segment: Segment) -> QuerySet[SegmentSnapshot]:
    return segment.snapshots.select_related("taken_by").order_by("-taken_at", "-id")


def snapshot_members(snapshot: SegmentSnapshot, user) -> QuerySet[Customer]:
    """A snapshot's members as they were frozen, still live, that `user` sees."""
    members = SegmentMember.objects.filter(
        customer_id=OuterRef("pk"), snapshot_id=snapshot.pk
    )
    return _scoped(live_customers().filter(Exists(members)), user)
