from __future__ import annotations

from rest_framework.routers import SimpleRouter

from automations import api

router = SimpleRouter()
# ARCHITECTURE §5 writes paths without a slash; accept both so neither form is a redirect that drops a POST body.
router.trailing_slash = "/?"
router.register("automations", api.AutomationViewSet, basename="api-automation")

urlpatterns = router.urls

# Journeys (issue 16).
from automations import journey_api  # noqa: E402

router.register("journeys", journey_api.JourneyViewSet, basename="api-journey")
router.register("enrollments", journey_api.EnrollmentViewSet, basename="api-enrollment")
urlpatterns = router.urls
