import os
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application: Any = get_wsgi_application()

# The open pixel and click redirects are answered before Django's request cycle (delivery/tracking_endpoint.py).
from delivery.tracking_endpoint import TrackingFastPath  # noqa: E402  (needs the settings loaded above)

application = TrackingFastPath(application)
