"""The task endpoints: the seed's contract under /api/v1/, the OpenAI-compatible ones under /v1/, and
stored files under MEDIA_URL (included by the project's URL map)."""

from django.conf import settings
from django.urls import path, re_path

from . import catalog, events, openai_compat, openai_models, openai_videos, views
from .media import media_serve

api = "api/v1/"

urlpatterns = [
    path(f"{api}ai/models", catalog.ModelListView.as_view(), name="models"),
    path(f"{api}ai/image/task", views.ImageTaskCreateView.as_view(), name="image-task-create"),
    path(f"{api}ai/image/result/<str:task_id>", views.ImageTaskResultView.as_view(), name="image-task-result"),
    path(f"{api}ai/video/task", views.VideoTaskCreateView.as_view(), name="video-task-create"),
    path(f"{api}ai/video/result/<str:task_id>", views.VideoTaskResultView.as_view(), name="video-task-result"),
    path(f"{api}ai/tasks", views.GenericTaskCreateView.as_view(), name="task-create"),
    path(f"{api}tasks/user/<str:user_id>", views.UserTaskListView.as_view(), name="user-tasks"),
    path(
        f"{api}tasks/user/<str:user_id>/external/<str:external_task_id>",
        views.ExternalTaskView.as_view(),
        name="user-task-by-external-id",
    ),
    path(f"{api}tasks/<str:task_id>", views.TaskDetailView.as_view(), name="task-detail"),
    path(f"{api}tasks/<str:task_id>/events", events.TaskEventsView.as_view(), name="task-events"),
    path(f"{api}tasks/<str:task_id>/cancel", views.TaskCancelView.as_view(), name="task-cancel"),
    path(f"{api}tasks/<str:task_id>/retry", views.TaskRetryView.as_view(), name="task-retry"),
    path("v1/models", openai_models.ModelsView.as_view(), name="openai-models"),
    path("v1/models/<str:model_id>", openai_models.ModelView.as_view(), name="openai-model"),
    path("v1/images/generations", openai_compat.ImageGenerationsView.as_view(), name="openai-generations"),
    path("v1/images/edits", openai_compat.ImageEditsView.as_view(), name="openai-edits"),
    path("v1/videos", openai_videos.VideosView.as_view(), name="openai-videos"),
    path("v1/videos/<str:video_id>", openai_videos.VideoView.as_view(), name="openai-video"),
    path("v1/videos/<str:video_id>/content", openai_videos.VideoContentView.as_view(), name="openai-video-content"),
    re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<name>.+)$", media_serve, name="media"),
]
