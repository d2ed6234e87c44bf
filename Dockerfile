FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app

COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock

COPY . .
# collectstatic needs a secret and hosts only to import settings; real values come from the environment at run time.
RUN DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "config.asgi", "-k", "asgi", "--bind", "0.0.0.0:8000", "--workers", "1", "--access-logfile", "-"]
