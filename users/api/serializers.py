"""Shapes of the users API."""

from rest_framework import serializers

from jimeng_server.api import StrictFields, timestamp

from ..models import USER_ID_PATTERN, WEIGHT_MAX, Tier, User


class UserCreateSerializer(serializers.Serializer):
    id = serializers.RegexField(
        USER_ID_PATTERN,
        required=False,
        max_length=64,
        error_messages={
            "invalid": "must be 1-64 characters: letters, digits and _ . : @ - (starting with a letter or digit)."
        },
    )
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class UserUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_null=True, max_length=254)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one of: email, name.")
        return attrs


class ShareSerializer(StrictFields, serializers.Serializer):
    tier = serializers.ChoiceField(Tier.values, required=False, help_text="Where their waiting tasks stand.")
    weight = serializers.IntegerField(
        min_value=1, max_value=WEIGHT_MAX, required=False, help_text="Their share within the tier (1-100)."
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one of: tier, weight.")
        return attrs


class CreditsSetSerializer(serializers.Serializer):
    balance = serializers.IntegerField(min_value=0, max_value=10**9)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class CreditEntrySerializer(StrictFields, serializers.Serializer):
    amount = serializers.IntegerField(min_value=-(10**9), max_value=10**9)
    reason = serializers.CharField(max_length=200)

    def validate_amount(self, value):
        if value == 0:
            raise serializers.ValidationError("must not be 0: a grant is positive, a deduct negative.")
        return value


class CreditsOut(serializers.Serializer):
    enabled = serializers.BooleanField()
    balance = serializers.IntegerField(allow_null=True)
    reserved = serializers.IntegerField()


class UsageOut(CreditsOut):
    charged = serializers.IntegerField()
    charged_by_model = serializers.DictField(child=serializers.IntegerField())
    charged_by_day = serializers.DictField(child=serializers.IntegerField())
    days = serializers.IntegerField()


class UserLookupSerializer(serializers.Serializer):
    email = serializers.EmailField(error_messages={"required": "Pass ?email=<address> to look a user up."})


def user_data(user: User) -> dict:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "credits": user.credits,
        "credits_reserved": user.credits_reserved,
        "tier": user.tier,
        "weight": user.weight,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }


class UserOut(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.EmailField(allow_null=True)
    name = serializers.CharField()
    credits = serializers.IntegerField(allow_null=True, help_text="Credit balance; null: credits are off.")
    credits_reserved = serializers.IntegerField()
    tier = serializers.ChoiceField(Tier.values, help_text="Priority tier of their waiting tasks.")
    weight = serializers.IntegerField(help_text="Share weight within the tier.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class UserDeletedOut(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class KeyCreateSerializer(serializers.Serializer):
    user_id = serializers.RegexField(USER_ID_PATTERN, required=False, max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    service = serializers.BooleanField(required=False, default=False)


class KeyOut(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField(allow_null=True)
    service = serializers.BooleanField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    tier = serializers.CharField(help_text="Its priority tier when FAIR_SHARE_BY=key.")
    weight = serializers.IntegerField(help_text="Its share weight when FAIR_SHARE_BY=key.")
    key = serializers.CharField(required=False, help_text="Only in the answer that made it.")


def key_data(key) -> dict:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "service": key.is_service,
        "name": key.name,
        "created_at": timestamp(key.created_at),
        "last_used_at": timestamp(key.last_used_at),
        "revoked_at": timestamp(key.revoked_at),
        "tier": key.tier,
        "weight": key.weight,
    }
