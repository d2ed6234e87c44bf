from __future__ import annotations

app_name = "segments"

urlpatterns: list = []
