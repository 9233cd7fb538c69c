"""Normalizing contact points, so the same person is found however they wrote it."""

import hashlib
import re

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

SOCIAL_NETWORKS = ("twitter", "facebook", "instagram", "tiktok", "linkedin", "whatsapp", "forum")
_HANDLE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def normalize_email(value: str) -> str:
    value = (value or "").strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError(f"{value!r} is not a valid email address.") from None
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain}".lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 (+447700900123). National numbers are read in the default region."""
    region = region or settings.CXPORTAL_DEFAULT_PHONE_REGION
    try:
        number = phonenumbers.parse((value or "").strip(), region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"{value!r} is not a phone number.") from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(f"{value!r} is not a possible phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_handle(value: str, network: str) -> str:
    network = (network or "").strip().lower()
    if network not in SOCIAL_NETWORKS:
        raise ValidationError(
            f"Unknown social network {network!r}; one of {', '.join(SOCIAL_NETWORKS)}."
        )
    handle = (value or "").strip().lstrip("@")
    if not _HANDLE.match(handle):
        raise ValidationError(f"{value!r} is not a valid handle.")
    return f"{network}:{handle.lower()}"


def normalize_identifier(value: str) -> str:
    value = re.sub(r"\s+", "", value or "")
    if not value or len(value) > 200:
        raise ValidationError("An identifier of 1 to 200 characters is needed.")
    return value.upper()


def normalize_contact(kind: str, value: str, network: str = "") -> str:
    """The normalized form of a contact point; ValidationError when it is not valid."""
    if kind == "email":
        return normalize_email(value)
    if kind == "phone":
        return normalize_phone(value)
    if kind == "social":
        return normalize_handle(value, network)
    if kind in ("app", "loyalty"):
        return normalize_identifier(value)
    raise ValidationError(f"Unknown contact point kind {kind!r}.")


def identity_digest(kind: str, normalized: str) -> str:
    """The one-way hash kept for an erased person (keyed, so it cannot be looked up)."""
    key = settings.SECRET_KEY.encode()
    return hashlib.blake2b(
        f"{kind}:{normalized}".encode(), key=key[:64], digest_size=32
    ).hexdigest()


def guess_kind(query: str) -> tuple[str, str] | None:
    """What a search box entry looks like: ("email", normalized), ("phone", ...), ..."""
    query = query.strip()
    if "@" in query[1:] and " " not in query:
        try:
            return "email", normalize_email(query)
        except ValidationError:
            return None
    if query.startswith("@") and len(query) > 1:
        return "social", query[1:].lower()
    digits = re.sub(r"[\s().\-]", "", query)
    if re.fullmatch(r"\+?\d{6,15}", digits):
        try:
            return "phone", normalize_phone(query)
        except ValidationError:
            return None
    return None
