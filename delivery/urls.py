from __future__ import annotations

app_name = "delivery"

urlpatterns: list = []
