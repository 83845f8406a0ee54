"""The `clientbook` command: `run`, `demo`, and every Django management command."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clientbook.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv[1:] if argv is None else argv)
    execute_from_command_line(["clientbook", *args])


if __name__ == "__main__":
    main()
