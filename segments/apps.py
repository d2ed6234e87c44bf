from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Segments"

    def ready(self) -> None:
        # Function segments are looked up by name in a registry filled on import: fill it in every process
        # (web, worker, beat), not only where a view happened to import it.
        from segments import functions  # noqa: F401
