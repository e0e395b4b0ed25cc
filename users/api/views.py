"""HTTP endpoints for users."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.views import APIView

from jimeng_server.api import envelope, error_responses, ok

from .. import selectors, services
from .serializers import (
    UserCreateSerializer,
    UserDeletedOut,
    UserLookupSerializer,
    UserOut,
    UserUpdateSerializer,
    user_data,
)

USER = envelope("User", UserOut())


class UserCollectionView(APIView):
    @extend_schema(
        request=UserCreateSerializer, responses={201: USER, **error_responses(400, 409, 415)}, summary="Create a user"
    )
    def post(self, request):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        user = services.user_create(email=fields["email"], name=fields["name"], user_id=fields.get("id"))
        return ok(user_data(user), status_code=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="users_lookup_by_email",
        summary="Look a user up by email",
        parameters=[OpenApiParameter("email", str, required=True)],
        responses={200: USER, **error_responses(400, 404)},
    )
    def get(self, request):
        query = UserLookupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return ok(user_data(selectors.user_get_by_email(email=query.validated_data["email"])))


class UserDetailView(APIView):
    @extend_schema(responses={200: USER, **error_responses(404)}, summary="One user")
    def get(self, request, user_id: str):
        return ok(user_data(selectors.user_get(user_id=user_id)))

    @extend_schema(
        request=UserUpdateSerializer,
        responses={200: USER, **error_responses(400, 404, 409)},
        summary="Change a user's email or name",
    )
    def put(self, request, user_id: str):
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        user = services.user_update(
            user_id=user_id, email=fields.get("email"), name=fields.get("name"), set_email="email" in fields
        )
        return ok(user_data(user))

    @extend_schema(
        responses={200: envelope("UserDeleted", UserDeletedOut()), **error_responses(404)},
        summary="Delete a user and their tasks",
    )
    def delete(self, request, user_id: str):
        services.user_delete(user_id=user_id)
        return ok({"id": user_id, "deleted": True})
