from __future__ import annotations

from rest_framework.routers import SimpleRouter

from segments.api import SegmentViewSet

router = SimpleRouter()
# ARCHITECTURE §5 writes paths without a slash; accept both so neither form is a redirect that drops a POST body.
router.trailing_slash = "/?"
router.register("segments", SegmentViewSet, basename="api-segment")

urlpatterns = router.urls
