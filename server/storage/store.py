"""The SQL :class:`~server.storage.protocols.Store`: units of work over a Database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

from server.storage.database import Connection, Database
from server.storage.repos.accounts import SqlAgencyRepository, SqlStaffRepository
from server.storage.repos.alert_response import SqlAlertResponseRepository
from server.storage.repos.alerting import (
    SqlAlertRepository,
    SqlNotificationRepository,
    SqlPolicyRepository,
)
from server.storage.repos.audit import SqlAuditRepository
from server.storage.repos.case_erasure import SqlCaseErasureRepository
from server.storage.repos.case_lifecycle import SqlCaseLifecycleRepository
from server.storage.repos.cases import SqlCaseRepository, SqlWitnessRepository
from server.storage.repos.console import SqlConsoleSessionRepository
from server.storage.repos.court import (
    SqlAppointmentRepository,
    SqlCalendarFeedRepository,
    SqlDeadlineRepository,
)
from server.storage.repos.device_events import SqlDeviceEventRepository
from server.storage.repos.devices import SqlDeviceRepository, SqlKeyRepository
from server.storage.repos.enrolments import SqlEnrolmentRepository
from server.storage.repos.handovers import SqlAssessmentRepository, SqlHandoverRepository
from server.storage.repos.identities import SqlIdentityRepository, SqlRosterRepository
from server.storage.repos.messages import SqlAttachmentRepository, SqlMessageRepository
from server.storage.repos.rate_limits import SqlRateLimitRepository
from server.storage.repos.sealed_values import SqlSealedValueRepository, SqlServerSecretRepository
from server.storage.repos.unlock import SqlUnlockRepository
from server.storage.repos.visits import SqlVisitRepository
from server.storage.repos.voice_steps import SqlVoiceCallStepRepository, SqlWitnessVoiceRepository
from server.storage.repos.webhook_receipts import SqlWebhookReceiptRepository
from server.storage.repos.welfare import (
    SqlCaseSettingsRepository,
    SqlCheckInRepository,
    SqlContactRepository,
    SqlPlanRepository,
)


class SqlUnitOfWork:
    """Repositories bound to one connection; created per transaction (cheaply, lazily)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def agencies(self) -> SqlAgencyRepository:
        return SqlAgencyRepository(self.conn)

    @cached_property
    def staff(self) -> SqlStaffRepository:
        return SqlStaffRepository(self.conn)

    @cached_property
    def cases(self) -> SqlCaseRepository:
        return SqlCaseRepository(self.conn)

    @cached_property
    def witnesses(self) -> SqlWitnessRepository:
        return SqlWitnessRepository(self.conn)

    @cached_property
    def enrolments(self) -> SqlEnrolmentRepository:
        return SqlEnrolmentRepository(self.conn)

    @cached_property
    def identities(self) -> SqlIdentityRepository:
        return SqlIdentityRepository(self.conn)

    @cached_property
    def rosters(self) -> SqlRosterRepository:
        return SqlRosterRepository(self.conn)

    @cached_property
    def devices(self) -> SqlDeviceRepository:
        return SqlDeviceRepository(self.conn)

    @cached_property
    def keys(self) -> SqlKeyRepository:
        return SqlKeyRepository(self.conn)

    @cached_property
    def messages(self) -> SqlMessageRepository:
        return SqlMessageRepository(self.conn)

    @cached_property
    def attachments(self) -> SqlAttachmentRepository:
        return SqlAttachmentRepository(self.conn)

    @cached_property
    def audit(self) -> SqlAuditRepository:
        return SqlAuditRepository(self.conn)

    @cached_property
    def case_settings(self) -> SqlCaseSettingsRepository:
        return SqlCaseSettingsRepository(self.conn)

    @cached_property
    def plans(self) -> SqlPlanRepository:
        return SqlPlanRepository(self.conn)

    @cached_property
    def checkins(self) -> SqlCheckInRepository:
        return SqlCheckInRepository(self.conn)

    @cached_property
    def contact(self) -> SqlContactRepository:
        return SqlContactRepository(self.conn)

    @cached_property
    def policies(self) -> SqlPolicyRepository:
        return SqlPolicyRepository(self.conn)

    @cached_property
    def alerts(self) -> SqlAlertRepository:
        return SqlAlertRepository(self.conn)

    @cached_property
    def notifications(self) -> SqlNotificationRepository:
        return SqlNotificationRepository(self.conn)

    @cached_property
    def appointments(self) -> SqlAppointmentRepository:
        return SqlAppointmentRepository(self.conn)

    @cached_property
    def deadlines(self) -> SqlDeadlineRepository:
        return SqlDeadlineRepository(self.conn)

    @cached_property
    def calendar_feeds(self) -> SqlCalendarFeedRepository:
        return SqlCalendarFeedRepository(self.conn)

    @cached_property
    def console_sessions(self) -> SqlConsoleSessionRepository:
        return SqlConsoleSessionRepository(self.conn)

    @cached_property
    def device_events(self) -> SqlDeviceEventRepository:
        return SqlDeviceEventRepository(self.conn)

    @cached_property
    def unlock(self) -> SqlUnlockRepository:
        return SqlUnlockRepository(self.conn)

    @cached_property
    def rate_limits(self) -> SqlRateLimitRepository:
        return SqlRateLimitRepository(self.conn)

    @cached_property
    def sealed_values(self) -> SqlSealedValueRepository:
        return SqlSealedValueRepository(self.conn)

    @cached_property
    def alert_response(self) -> SqlAlertResponseRepository:
        return SqlAlertResponseRepository(self.conn)

    @cached_property
    def server_secrets(self) -> SqlServerSecretRepository:
        return SqlServerSecretRepository(self.conn)

    @cached_property
    def voice_steps(self) -> SqlVoiceCallStepRepository:
        return SqlVoiceCallStepRepository(self.conn)

    @cached_property
    def witness_voice(self) -> SqlWitnessVoiceRepository:
        return SqlWitnessVoiceRepository(self.conn)

    @cached_property
    def webhook_receipts(self) -> SqlWebhookReceiptRepository:
        return SqlWebhookReceiptRepository(self.conn)

    @cached_property
    def visits(self) -> SqlVisitRepository:
        return SqlVisitRepository(self.conn)

    @cached_property
    def handovers(self) -> SqlHandoverRepository:
        return SqlHandoverRepository(self.conn)

    @cached_property
    def assessments(self) -> SqlAssessmentRepository:
        return SqlAssessmentRepository(self.conn)

    @cached_property
    def case_lifecycle(self) -> SqlCaseLifecycleRepository:
        return SqlCaseLifecycleRepository(self.conn)

    @cached_property
    def case_erasure(self) -> SqlCaseErasureRepository:
        return SqlCaseErasureRepository(self.conn)


class SqlStore:
    """A :class:`~server.storage.protocols.Store` over either backend."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.db.transaction() as conn:
            yield SqlUnitOfWork(conn)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.db.snapshot() as conn:
            yield SqlUnitOfWork(conn)
