"""Closed vocabularies shared by the report, the events and the services.

Every enum is a ``StrEnum`` so its JSON value is the readable string. Adding a
member is an additive (v1-compatible) change; removing or renaming one is not.
"""

from __future__ import annotations

from enum import StrEnum


class OffenceType(StrEnum):
    """What happened, in the categories police triage retail crime by."""

    THEFT_FROM_SHOP = "theft_from_shop"
    VIOLENCE_AGAINST_STAFF = "violence_against_staff"
    THREATS_OR_ABUSE_AGAINST_STAFF = "threats_or_abuse_against_staff"
    CRIMINAL_DAMAGE = "criminal_damage"
    ROBBERY = "robbery"
    BURGLARY = "burglary"
    FRAUD = "fraud"
    OTHER = "other"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"


class Build(StrEnum):
    SLIM = "slim"
    MEDIUM = "medium"
    ATHLETIC = "athletic"
    HEAVY = "heavy"
    UNKNOWN = "unknown"


class IcCode(StrEnum):
    """Police identity codes (officer-perceived ethnicity).

    Special category data (DPA 2018 s.35): always optional, marked ``x-sensitive``
    in the JSON Schema, stripped for everyone but the owning force, and never a
    matching feature.
    """

    IC1 = "IC1"  # White - North European
    IC2 = "IC2"  # White - South European
    IC3 = "IC3"  # Black
    IC4 = "IC4"  # Asian
    IC5 = "IC5"  # Chinese, Japanese or other South East Asian
    IC6 = "IC6"  # Arab or North African
    IC9 = "IC9"  # Unknown


class WitnessRole(StrEnum):
    STORE_STAFF = "store_staff"
    STORE_MANAGER = "store_manager"
    SECURITY_OFFICER = "security_officer"
    CUSTOMER = "customer"
    OTHER = "other"


class Priority(StrEnum):
    """Case priority chosen by routing (Retail Crime Action Plan 2023).

    Ordered from most to least urgent; ``Priority.rank`` gives a sortable number.
    """

    IMMEDIATE = "immediate"  # violence, weapon, staff injured, offender detained
    HIGH = "high"  # prolific offender, evidence to secure
    STANDARD = "standard"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for the most urgent; use it to sort or to compare priorities."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {
    Priority.IMMEDIATE: 0,
    Priority.HIGH: 1,
    Priority.STANDARD: 2,
    Priority.LOW: 3,
}


class PriorityReasonCode(StrEnum):
    """Why a case got its priority; routing's rules emit one or more."""

    VIOLENCE = "violence"
    WEAPON_SEEN = "weapon_seen"
    STAFF_INJURED = "staff_injured"
    THREATS_TO_STAFF = "threats_to_staff"
    OFFENDER_DETAINED = "offender_detained"
    PROLIFIC_OFFENDER = "prolific_offender"
    JUVENILE_OFFENDER = "juvenile_offender"
    EVIDENCE_AVAILABLE = "evidence_available"
    HIGH_VALUE = "high_value"
    OFFENDER_NAMED = "offender_named"
    VEHICLE_IDENTIFIED = "vehicle_identified"
    STANDARD = "standard"


class RoutingBasis(StrEnum):
    """How routing chose the force (the store's override always wins)."""

    STORE_OVERRIDE = "store_override"
    POSTCODE_DISTRICT = "postcode_district"
    POSTCODE_AREA = "postcode_area"


class UpdateKind(StrEnum):
    """What a force says about a case on its updates topic."""

    ACKNOWLEDGED = "acknowledged"
    CRIME_RECORDED = "crime_recorded"
    OFFICER_ALLOCATED = "officer_allocated"
    EVIDENCE_REQUESTED = "evidence_requested"
    SUSPECT_IDENTIFIED = "suspect_identified"
    OUTCOME = "outcome"
    CLOSED = "closed"
    LINK_CONFIRMED = "link_confirmed"
    LINK_REJECTED = "link_rejected"


class OutcomeKind(StrEnum):
    CHARGED = "charged"
    CAUTIONED = "cautioned"
    COMMUNITY_RESOLUTION = "community_resolution"
    NO_FURTHER_ACTION = "no_further_action"


class EvidenceRejectionReason(StrEnum):
    HASH_MISMATCH = "hash_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    EMPTY_FILE = "empty_file"
    TOO_LARGE = "too_large"
    INCOMPLETE_UPLOAD = "incomplete_upload"
    UNRECOGNISED_CONTENT = "unrecognised_content"
    MEDIA_TYPE_MISMATCH = "media_type_mismatch"
    EXECUTABLE_CONTENT = "executable_content"
    UNPLAYABLE_MEDIA = "unplayable_media"
    OTHER = "other"


class MediaKind(StrEnum):
    VIDEO = "video"
    IMAGE = "image"


class DerivativeKind(StrEnum):
    """Processed copies of a master exhibit; the master itself is never modified."""

    PREVIEW = "preview"
    STILL = "still"
    THUMBNAIL_STRIP = "thumbnail_strip"
    REDACTED = "redacted"


class LinkStatus(StrEnum):
    """State of a possible link between a described offender and a profile."""

    AUTO_LINKED = "auto_linked"  # above the auto-link threshold
    CANDIDATE = "candidate"  # for the force's analyst to confirm or reject
    CONFIRMED = "confirmed"  # a force confirmed it
    REJECTED = "rejected"  # a force rejected it


class ProlificCriterion(StrEnum):
    REPORT_COUNT = "report_count"  # at least N reports in the window
    STORE_COUNT = "store_count"  # reports in at least M stores
