# One image for web, worker and beat; compose picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 JIMENG_DATA_DIR=/data
# A font with Chinese glyphs, so the local provider can draw Chinese prompts.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_STATIC_ROOT=/app/static python manage.py collectstatic --noinput -v 0
# Listening beyond loopback: production rules apply (API keys, DJANGO_SECRET_KEY, DEBUG off).
ENV DJANGO_STATIC_ROOT=/app/static SERVER_HOST=0.0.0.0

RUN useradd --create-home --uid 1000 jimeng && mkdir -p /data && chown jimeng /data
USER jimeng
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn jimeng_server.asgi:application --worker-class jimeng_server.edge.UvicornWorker --bind 0.0.0.0:${SERVER_PORT:-8000} --workers ${WEB_CONCURRENCY:-2} --access-logfile - --control-socket /data/gunicorn.ctl"]
