"""URL map: the project's own endpoints (health, metrics, ping, the OpenAPI schema, the playground, the
admin), and each app's, included by name (the project package imports no app)."""

from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import metrics, views

urlpatterns = [
    path("", RedirectView.as_view(url="/playground/"), name="home"),
    path("playground/", TemplateView.as_view(template_name="imagetasks/playground.html"), name="playground"),
    path("favicon.ico", RedirectView.as_view(url=static("imagetasks/favicon.svg"), permanent=True), name="favicon"),
    path("health", views.HealthView.as_view(), name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/ping", views.PingView.as_view(), name="ping"),
    path("api/v1/", include("users.api.urls")),
    path("", include("imagetasks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler400 = "jimeng_server.api.handler400"
handler404 = "jimeng_server.api.handler404"
handler500 = "jimeng_server.api.handler500"
