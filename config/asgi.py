"""The web process as the README runs it: `gunicorn config.asgi -k asgi` (docs/deploy: one worker process).

The open pixel and the click redirect are answered on gunicorn's event loop (delivery/tracking_endpoint.py); every
other request goes to Django's WSGI application on HERALD_WEB_THREADS threads (config/wsgi_threads.py): Django runs
as it does under gunicorn's `gthread` worker, while a burst of opens after a big send costs no thread hand-off.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

django_wsgi = get_wsgi_application()

from config.wsgi_threads import WSGIOnThreads  # noqa: E402
from delivery.tracking_endpoint import TrackingFastPathASGI  # noqa: E402  (needs the settings loaded above)

application = TrackingFastPathASGI(WSGIOnThreads(django_wsgi, threads=settings.HERALD_WEB_THREADS))
