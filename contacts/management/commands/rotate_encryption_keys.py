"""`manage.py rotate_encryption_keys`: re-encrypt every stored value under the first HERALD_ENCRYPTION_KEYS key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from contacts import protect


class Command(BaseCommand):
    help = (
        "Re-encrypt mobiles and sensitive attribute values under the first key of HERALD_ENCRYPTION_KEYS (and "
        "encrypt values still in plain text). Run it after putting a new key first; then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(what: str, done: int) -> None:
            self.stderr.write(f"{what}: {done:,}", ending="\r")

        counts = protect.encryption_rotate(progress=progress)
        self.stdout.write(
            f"Re-encrypted {counts['mobile']:,} mobile numbers and {counts['attributes']:,} sensitive attribute values."
        )
        if counts["unreadable"]:
            self.stderr.write(
                f"{counts['unreadable']:,} stored values were encrypted under a key that is no longer in "
                "HERALD_ENCRYPTION_KEYS and were left as they are: put that key back (after the first) and run this "
                "again."
            )
