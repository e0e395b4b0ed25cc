"""HTTP endpoints for users."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied

from jimeng_server.api import envelope, error_responses, ok
from jimeng_server.apiview import APIView
from jimeng_server.auth import principal
from jimeng_server.errors import InvalidInput, NotFound

from .. import credits, keys, selectors, services
from ..models import ApiKey
from .serializers import (
    CreditEntrySerializer,
    CreditsOut,
    CreditsSetSerializer,
    KeyCreateSerializer,
    KeyOut,
    ShareSerializer,
    UsageOut,
    UserCreateSerializer,
    UserDeletedOut,
    UserLookupSerializer,
    UserOut,
    UserUpdateSerializer,
    key_data,
    user_data,
)

USER = envelope("User", UserOut())


def _service_only(request, message: str):
    """The caller, if a service key (or local mode); a user's own key is refused (403) with `message`."""
    caller = principal(request)
    if caller.user_id is not None:
        raise PermissionDenied(message)
    return caller


class UserCollectionView(APIView):
    @extend_schema(
        request=UserCreateSerializer, responses={201: USER, **error_responses(400, 409, 415)}, summary="Create a user"
    )
    def post(self, request):
        _service_only(request, "Only service keys may create users.")
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
        user = selectors.user_get_by_email(email=query.validated_data["email"])
        if principal(request).user_id not in (None, user.id):
            raise NotFound(f"No user with email '{query.validated_data['email']}'.")
        return ok(user_data(user))


class UserDetailView(APIView):
    @extend_schema(responses={200: USER, **error_responses(404)}, summary="One user")
    def get(self, request, user_id: str):
        principal(request).check_user(user_id)
        return ok(user_data(selectors.user_get(user_id=user_id)))

    @extend_schema(
        request=UserUpdateSerializer,
        responses={200: USER, **error_responses(400, 404, 409)},
        summary="Change a user's email or name",
    )
    def put(self, request, user_id: str):
        principal(request).check_user(user_id)
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
        principal(request).check_user(user_id)
        services.user_delete(user_id=user_id)
        return ok({"id": user_id, "deleted": True})


class UserShareView(APIView):
    @extend_schema(
        request=ShareSerializer,
        responses={200: USER, **error_responses(400, 403, 404)},
        summary="Set a user's priority tier and share weight (service keys and operators)",
    )
    def put(self, request, user_id: str):
        _service_only(request, "Only service keys and operators may set a user's tier or weight.")
        serializer = ShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        return ok(user_data(services.user_share_set(user_id=user_id, **fields)))


class UserCreditsView(APIView):
    @extend_schema(
        request=CreditsSetSerializer,
        responses={200: envelope("Credits", CreditsOut()), **error_responses(400, 403, 404)},
        summary="Set a user's credit balance (service keys and operators; turns credits on for the user)",
    )
    def put(self, request, user_id: str):
        _service_only(request, "Only service keys and operators may set credit balances.")
        serializer = CreditsSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        note = (
            fields["note"] or f"set by {'key ' + principal(request).key_id if principal(request).key_id else 'local'}"
        )
        return ok(credits.credits_set(user_id=user_id, balance=fields["balance"], note=note))

    @extend_schema(
        request=None,
        responses={200: envelope("CreditsOff", CreditsOut()), **error_responses(403, 404, 409)},
        summary="Turn a user's credits off (service keys and operators): creates reserve nothing again",
    )
    def delete(self, request, user_id: str):
        _service_only(request, "Only service keys and operators may turn credits off.")
        return ok(credits.credits_disable(user_id=user_id))


class UserCreditsEntryView(APIView):
    @extend_schema(
        request=CreditEntrySerializer,
        responses={200: envelope("CreditsAfterEntry", CreditsOut()), **error_responses(400, 402, 403, 404, 409)},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="Makes the entry happen at most once: a repeat answers the balance as it is.",
            )
        ],
        summary="Grant (amount > 0) or deduct (amount < 0) credits atomically (service keys and operators)",
    )
    def post(self, request, user_id: str):
        caller = _service_only(request, "Only service keys and operators may grant or deduct credits.")
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 100:
            raise InvalidInput(
                "Send an Idempotency-Key header (1-100 characters): a credit entry happens once per key."
            )
        serializer = CreditEntrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        scoped = f"{caller.key_id or 'local'}:{key}"
        return ok(credits.credits_adjust(user_id=user_id, amount=fields["amount"], reason=fields["reason"], key=scoped))


class UserUsageView(APIView):
    @extend_schema(
        responses={200: envelope("Usage", UsageOut()), **error_responses(404)},
        summary="A user's credits: balance, reserved, and charged per model and per day (last 30 days)",
    )
    def get(self, request, user_id: str):
        principal(request).check_user(user_id)
        return ok(credits.credits_usage(user_id=user_id))


class KeyCollectionView(APIView):
    @extend_schema(
        request=KeyCreateSerializer,
        responses={201: envelope("ApiKeyCreated", KeyOut()), **error_responses(400, 401, 403, 404)},
        summary="Make an API key (its secret is shown once, in this answer)",
    )
    def post(self, request):
        serializer = KeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        # A user key cannot mint keys: a minted key would outlive the revocation of its minter.
        _service_only(request, "Only service keys (or operators, in the admin) may make API keys.")
        user_id = None if fields["service"] else fields.get("user_id")
        if not fields["service"] and not user_id:
            raise InvalidInput('Name the user_id the key is for, or ask for a service key with "service": true.')
        if user_id:
            selectors.user_get(user_id=user_id)
        key, secret = keys.api_key_create(user_id=user_id, name=fields["name"])
        return ok({**key_data(key), "key": secret}, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: envelope("ApiKeys", KeyOut(many=True)), **error_responses(401, 404)},
        parameters=[OpenApiParameter("user_id", str)],
        summary="List API keys (never their secrets)",
    )
    def get(self, request):
        caller = principal(request)
        user_id = request.query_params.get("user_id") or caller.user_id
        if user_id:
            caller.check_user(user_id)
        found = ApiKey.objects.filter(user_id=user_id) if user_id else ApiKey.objects.all()
        return ok([key_data(key) for key in found[:500]])


class KeyDetailView(APIView):
    @extend_schema(
        responses={200: envelope("ApiKeyRevoked", KeyOut()), **error_responses(401, 404)}, summary="Revoke an API key"
    )
    def delete(self, request, key_id: str):
        key = keys.api_key_revoke(key_id=key_id, owner=principal(request).user_id)
        return ok(key_data(key))


class KeyShareView(APIView):
    @extend_schema(
        request=ShareSerializer,
        responses={200: envelope("ApiKeyShare", KeyOut()), **error_responses(400, 403, 404)},
        summary="Set an API key's priority tier and share weight (FAIR_SHARE_BY=key; service keys and operators)",
    )
    def put(self, request, key_id: str):
        _service_only(request, "Only service keys and operators may set a key's tier or weight.")
        serializer = ShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return ok(key_data(keys.api_key_share_set(key_id=key_id, **serializer.validated_data)))
