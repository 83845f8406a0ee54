"""`clientbook quality` and the background tasks."""

import io

from django.core.management import call_command

from clientbook.quality.models import CustomerQuality, TaskReason, VerificationTask
from clientbook.quality.tasks import quality_nightly_task
from clientbook.quality.tests.helpers import bare


def test_command_computes_and_rotates(source, branch):
    for i in range(3):
        bare(source, branch, name=f"甲{i}")
    out, err = io.StringIO(), io.StringIO()
    call_command("quality", "--nightly", "--month", "2025-03", stdout=out, stderr=err)
    assert CustomerQuality.objects.count() == 3
    assert "customers 3" in out.getvalue()
    assert "quality" in err.getvalue()  # the progress line
    assert VerificationTask.objects.filter(reason=TaskReason.ROTATION).count() == 1
    # three bare records qualify for clean-up, minus none: all proposed
    assert VerificationTask.objects.filter(reason=TaskReason.CLEANUP).count() == 3


def test_nightly_task_is_idempotent(source, branch):
    bare(source, branch)
    first = quality_nightly_task.call()
    second = quality_nightly_task.call()
    assert first["customers"] == second["customers"] == 1
    assert (second["rotation"], second["cleanup"]) == (0, 0)
