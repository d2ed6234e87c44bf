from __future__ import annotations

from rest_framework.routers import SimpleRouter

from templates_app.api import MessageTemplateViewSet

router = SimpleRouter()
# ARCHITECTURE §5 writes paths without a slash; accept both so neither form is a redirect that drops a POST body.
router.trailing_slash = "/?"
router.register("templates", MessageTemplateViewSet, basename="api-template")

urlpatterns = router.urls
