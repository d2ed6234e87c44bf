from __future__ import annotations

from rest_framework.routers import SimpleRouter

from automations import api

router = SimpleRouter()
# ARCHITECTURE §5 writes paths without a slash; accept both so neither form is a redirect that drops a POST body.
router.trailing_slash = "/?"
router.register("automations", api.AutomationViewSet, basename="api-automation")

urlpatterns = router.urls
