"""URL map: the seed's API contract, the OpenAPI schema, the admin and stored images."""

from django.conf import settings
from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from imagetasks.api import openai_compat, openai_videos
from imagetasks.api import views as tasks
from imagetasks.api.media import media_serve
from users.api import views as users

from . import metrics, views

api = "api/v1/"

urlpatterns = [
    path("", RedirectView.as_view(url="/playground/"), name="home"),
    path("playground/", TemplateView.as_view(template_name="imagetasks/playground.html"), name="playground"),
    path("health", views.HealthView.as_view(), name="health"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path(f"{api}users", users.UserCollectionView.as_view(), name="users"),
    path(f"{api}users/<str:user_id>", users.UserDetailView.as_view(), name="user-detail"),
    path(f"{api}users/<str:user_id>/credits", users.UserCreditsView.as_view(), name="user-credits"),
    path(f"{api}users/<str:user_id>/usage", users.UserUsageView.as_view(), name="user-usage"),
    path(f"{api}keys", users.KeyCollectionView.as_view(), name="keys"),
    path(f"{api}keys/<str:key_id>", users.KeyDetailView.as_view(), name="key-detail"),
    path(f"{api}ping", views.PingView.as_view(), name="ping"),
    path(f"{api}ai/models", views.ModelListView.as_view(), name="models"),
    path(f"{api}ai/image/task", tasks.ImageTaskCreateView.as_view(), name="image-task-create"),
    path(f"{api}ai/image/result/<str:task_id>", tasks.ImageTaskResultView.as_view(), name="image-task-result"),
    path(f"{api}ai/video/task", tasks.VideoTaskCreateView.as_view(), name="video-task-create"),
    path(f"{api}ai/video/result/<str:task_id>", tasks.VideoTaskResultView.as_view(), name="video-task-result"),
    path(f"{api}ai/tasks", tasks.GenericTaskCreateView.as_view(), name="task-create"),
    path(f"{api}tasks/user/<str:user_id>", tasks.UserTaskListView.as_view(), name="user-tasks"),
    path(
        f"{api}tasks/user/<str:user_id>/external/<str:external_task_id>",
        tasks.ExternalTaskView.as_view(),
        name="user-task-by-external-id",
    ),
    path(f"{api}tasks/<str:task_id>", tasks.TaskDetailView.as_view(), name="task-detail"),
    path(f"{api}tasks/<str:task_id>/events", tasks.TaskEventsView.as_view(), name="task-events"),
    path(f"{api}tasks/<str:task_id>/cancel", tasks.TaskCancelView.as_view(), name="task-cancel"),
    path(f"{api}tasks/<str:task_id>/retry", tasks.TaskRetryView.as_view(), name="task-retry"),
    path("v1/images/generations", openai_compat.ImageGenerationsView.as_view(), name="openai-generations"),
    path("v1/images/edits", openai_compat.ImageEditsView.as_view(), name="openai-edits"),
    path("v1/videos", openai_videos.VideosView.as_view(), name="openai-videos"),
    path("v1/videos/<str:video_id>", openai_videos.VideoView.as_view(), name="openai-video"),
    path("v1/videos/<str:video_id>/content", openai_videos.VideoContentView.as_view(), name="openai-video-content"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(settings.ADMIN_URL, admin.site.urls),
    re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<name>.+)$", media_serve, name="media"),
]

handler400 = "jimeng_server.api.handler400"
handler404 = "jimeng_server.api.handler404"
handler500 = "jimeng_server.api.handler500"
