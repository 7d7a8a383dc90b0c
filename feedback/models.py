"""Every model, imported in dependency order so metadata is complete (Alembic, tests)."""

from feedback.accounts.models import ApiKey, Membership, User, Workspace
from feedback.delivery.models import OutboxMessage, WebhookEndpoint
from feedback.insights.models import StageDailyStat
from feedback.journey.models import Stage, Touchpoint
from feedback.surveys.models import Contact, Invitation, Response
from feedback.testimonials.models import Testimonial

__all__ = [
    "ApiKey",
    "Contact",
    "Invitation",
    "Membership",
    "OutboxMessage",
    "Response",
    "Stage",
    "StageDailyStat",
    "Testimonial",
    "Touchpoint",
    "User",
    "WebhookEndpoint",
    "Workspace",
]
