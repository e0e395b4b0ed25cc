"""The users app's endpoints (included under /api/v1/ by the project's URL map)."""

from django.urls import path

from . import views

urlpatterns = [
    path("users", views.UserCollectionView.as_view(), name="users"),
    path("users/<str:user_id>", views.UserDetailView.as_view(), name="user-detail"),
    path("users/<str:user_id>/share", views.UserShareView.as_view(), name="user-share"),
    path("users/<str:user_id>/credits", views.UserCreditsView.as_view(), name="user-credits"),
    path("users/<str:user_id>/credits/entries", views.UserCreditsEntryView.as_view(), name="user-credit-entries"),
    path("users/<str:user_id>/usage", views.UserUsageView.as_view(), name="user-usage"),
    path("keys", views.KeyCollectionView.as_view(), name="keys"),
    path("keys/<str:key_id>", views.KeyDetailView.as_view(), name="key-detail"),
    path("keys/<str:key_id>/share", views.KeyShareView.as_view(), name="key-share"),
]
