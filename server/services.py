"""Builds the domain services for one server process and holds them together.

The same builder serves the HTTP server, the admin command and the tests, so they all
run the same rules against the same storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.clock import Clock
from server.config import Settings
from server.domain.accounts import AccountService
from server.domain.administration import AgencyAdministration
from server.domain.alert_guidance import AlertGuidance
from server.domain.assessments import AssessmentService
from server.domain.attachments import AttachmentService
from server.domain.audit import AuditLog
from server.domain.audit_reading import AuditReading
from server.domain.authentication import DeviceAuthenticator
from server.domain.case_lifecycle import CaseLifecycle
from server.domain.cases import CaseService
from server.domain.court.appointments import AppointmentService
from server.domain.court.calendar_feed import CalendarFeeds
from server.domain.device_events import DeviceEvents
from server.domain.devices import DeviceService
from server.domain.enrolment import EnrolmentService
from server.domain.events import EventSink
from server.domain.handovers import HandoverService
from server.domain.identities import IdentityService
from server.domain.keys import KeyService
from server.domain.login_throttle import LoginThrottle, login_limiters
from server.domain.messages import MessageRelay
from server.domain.resealing import Resealer
from server.domain.resends import Resends
from server.domain.rosters import RosterService
from server.domain.server_keys import blind_index_root
from server.domain.unlock.pins import PinService
from server.domain.unlock.service import UnlockService
from server.domain.visit_door import DoorAnswers
from server.domain.visits import VisitService, stop_visits
from server.domain.welfare.alert_desk import AlertDesk
from server.domain.welfare.alerts import AlertEngine
from server.domain.welfare.checkins import CheckInService
from server.domain.welfare.plans import PlanService
from server.domain.welfare.settings import WelfareSettings
from server.domain.welfare.sms_replies import SmsReplies
from server.domain.welfare.waves import WaveArming
from server.notify.alert_calls import AlertCalls
from server.notify.backlog import BacklogReader
from server.notify.call_steps import CallSteps
from server.notify.dispatcher import Dispatcher
from server.notify.pacing import PacingSettings
from server.notify.replays import WebhookReplayGuard
from server.notify.sms import LogSmsGateway, SmsGateway, TwilioSmsGateway
from server.notify.voice import TwilioVoiceGateway
from server.notify.webhooks import TwilioWebhookVerifier
from server.notify.witness_calls import WitnessCalls
from server.observability.delivery_health import DeliveryMonitor
from server.realtime.hub import Hub
from server.security.known_clients import KnownClientProofs
from server.security.passwords import PasswordHashing
from server.security.phones import PhoneBook
from server.security.ratelimit import MemoryRateLimiter, Rate
from server.security.sealing import Sealer, load_key_ring
from server.security.shared_ratelimit import BucketKeys, SharedRateLimiter
from server.storage.database import Database
from server.storage.sqlite import SqliteDatabase
from server.storage.store import SqlStore


@dataclass
class Services:
    """Every service of one process, wired to one database."""

    settings: Settings
    clock: Clock
    events: EventSink
    db: Database
    store: SqlStore
    sealer: Sealer
    resealer: Resealer
    audit: AuditLog
    authenticator: DeviceAuthenticator
    accounts: AccountService
    administration: AgencyAdministration
    audit_reading: AuditReading
    cases: CaseService
    #: Closing, phone retirement, reviews and retention erasure (issue 11, casework).
    case_lifecycle: CaseLifecycle
    devices: DeviceService
    enrolments: EnrolmentService
    identities: IdentityService
    rosters: RosterService
    keys: KeyService
    messages: MessageRelay
    resends: Resends
    attachments: AttachmentService
    hub: Hub | None
    phones: PhoneBook
    plans: PlanService
    checkins: CheckInService
    waves: WaveArming
    alerts: AlertEngine
    alert_desk: AlertDesk
    sms_replies: SmsReplies
    alert_guidance: AlertGuidance
    welfare: WelfareSettings
    dispatcher: Dispatcher
    delivery: DeliveryMonitor
    twilio_webhooks: TwilioWebhookVerifier | None
    webhook_replays: WebhookReplayGuard
    appointments: AppointmentService
    calendar_feeds: CalendarFeeds
    device_events: DeviceEvents
    unlock: UnlockService
    pins: PinService
    #: Alert calls to staff (issue 13, voice): TwiML and acknowledgement by key press.
    alert_calls: AlertCalls
    #: Check-in calls with witnesses (issue 13, voice): PIN, duress PIN, keypad menu.
    witness_calls: WitnessCalls
    #: Welfare visits by the home-country team (issue 11).
    visits: VisitService
    #: The witness's answer when the visitor is at the door (issue 11).
    door_answers: DoorAnswers
    #: Handover before return (issue 11, item 2).
    handovers: HandoverService
    #: Risk and needs assessments and their reviews (issue 11, item 3).
    assessments: AssessmentService
    #: The outbox's backlog by urgency class (issue 14, pacing).
    backlog: BacklogReader


def sms_gateway(settings: Settings) -> SmsGateway:
    """Twilio when configured; otherwise SMS are written to the log (numbers masked)."""
    return next(iter(sms_senders(settings).values()))


def sms_senders(settings: Settings) -> dict[str, SmsGateway]:
    """One gateway per configured sender (issue 14: each has its own rate); the log
    gateway alone without Twilio."""
    if not settings.twilio_configured:
        return {"log": LogSmsGateway()}
    assert settings.twilio_account_sid
    assert settings.twilio_auth_token
    return {
        sender: TwilioSmsGateway(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            sender,
            base_url=settings.twilio_base_url,
        )
        for sender in settings.twilio_senders
    }


def voice_gateway(settings: Settings, public_url: str) -> TwilioVoiceGateway | None:
    """Twilio calls when voice is on and Twilio configured; otherwise no calls."""
    if not settings.voice_configured:
        return None
    assert settings.twilio_account_sid
    assert settings.twilio_auth_token
    assert settings.voice_caller_id
    return TwilioVoiceGateway(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.voice_caller_id,
        public_url,
        machine_detection=settings.voice_machine_detection,
        base_url=settings.twilio_base_url,
    )


async def open_services(
    settings: Settings,
    clock: Clock,
    db: Database,
    *,
    hub: Hub | None,
    events: EventSink,
    gateway: SmsGateway | None = None,
) -> Services:
    """Load the key ring and the blind-index root, then wire the services.

    Raises:
        ValueError: a configured key is not 32 bytes of base64.
        IndexRootUnknown: see :func:`server.domain.server_keys.blind_index_root`.
    """
    current, previous = load_key_ring(
        settings.secret_key_path, settings.secret_key_b64, settings.previous_secret_keys_b64
    )
    sealer = Sealer(current, previous)
    store = SqlStore(db)
    index_root = await blind_index_root(store, sealer, current, clock)
    built = build_services(
        settings, clock, store, sealer, index_root, hub=hub, events=events, gateway=gateway
    )
    # Outcomes stored in plaintext before they were sealed (issue 13) are sealed now.
    await built.alert_desk.seal_plaintext_outcomes()
    return built


def build_services(
    settings: Settings,
    clock: Clock,
    store: SqlStore,
    sealer: Sealer,
    index_root: bytes,
    *,
    hub: Hub | None,
    events: EventSink,
    gateway: SmsGateway | None = None,
) -> Services:
    """Wire the services; ``events`` is the hub in a server, a null sink in tools."""
    db = store.db
    phones = PhoneBook(sealer, index_root)
    audit = AuditLog(clock)
    # Keyed by the blind-index root, not the sealing key: like the phone index they
    # must stay the same across a rotation of the sealing key, on every instance.
    bucket_keys = BucketKeys(index_root)

    def shared_limiter(scope: str, rate: Rate) -> SharedRateLimiter:
        """A limiter every instance on this database shares (see shared_ratelimit)."""
        return SharedRateLimiter(store, clock, bucket_keys, scope, rate)

    authenticator = DeviceAuthenticator(store, clock, cache_ttl=settings.auth_cache_ttl)
    passwords = PasswordHashing(
        time_cost=settings.password_time_cost, memory_cost_kib=settings.password_memory_kib
    )
    accounts = AccountService(
        store,
        audit,
        clock,
        passwords,
        sealer,
        LoginThrottle(login_limiters(shared_limiter), KnownClientProofs(index_root)),
    )
    cases = CaseService(
        store, audit, clock, events, authenticator, review_interval=settings.case_review_interval
    )
    case_lifecycle = CaseLifecycle(
        store,
        audit,
        clock,
        events,
        authenticator,
        phone_grace=settings.closed_phone_grace,
        retention=settings.retention,
        review_interval=settings.case_review_interval,
        after_erasure=db.truncate_wal if isinstance(db, SqliteDatabase) else None,
        phones=phones,
    )
    case_lifecycle.on_close.append(stop_visits)
    devices = DeviceService(store, audit, clock, authenticator, events)
    enrolments = EnrolmentService(
        store,
        audit,
        clock,
        authenticator,
        events,
        claims_by_address=shared_limiter("enrolment.address", Rate(capacity=10, refill_s=60)),
        ttl=settings.enrolment_ttl,
    )
    # Key claims stay in memory: up to 200 a second per device, where a database write
    # per claim would cost more than the claim. Each instance counting on its own
    # multiplies the allowance by the number of instances (the per-target one-time-key
    # allowance, which is in the database, is what protects a device's keys).
    keys = KeyService(
        store,
        audit,
        clock,
        claims_by_device=MemoryRateLimiter(clock, Rate(capacity=200, refill_s=1)),
    )
    messages = MessageRelay(store, audit, clock, events, ttl=settings.message_ttl)
    resends = Resends(store, audit, clock, events)
    attachments = AttachmentService(
        store,
        audit,
        clock,
        max_bytes=settings.attachment_max_bytes,
        ttl=settings.attachment_ttl,
    )
    if hub is not None:
        hub.on_revoked.append(authenticator.forget_devices)
    alerts = AlertEngine()
    public_url = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    delivery = DeliveryMonitor(settings.sms_failing_after)
    senders = {"default": gateway} if gateway is not None else sms_senders(settings)
    dispatcher = Dispatcher(
        store,
        clock,
        events,
        next(iter(senders.values())),
        phones,
        alerts,
        status_callback_url=f"{public_url}/v1/twilio/status"
        if settings.twilio_configured
        else None,
        alert_link_base=f"{settings.public_url.rstrip('/')}/console/alerts/"
        if settings.public_url
        else None,
        monitor=delivery,
        voice=voice_gateway(settings, public_url),
        senders=senders,
        pacing=PacingSettings(settings.sms_per_second, settings.calls_per_second),
    )
    checkins = CheckInService(
        store,
        audit,
        clock,
        events,
        alerts,
        phones,
        presence=hub.is_connected if hub is not None else (lambda _device: False),
        wake_dispatcher=dispatcher.wake,
    )
    alert_desk = AlertDesk(store, audit, clock, events, sealer)
    call_steps = CallSteps(store, clock)
    webhooks = (
        TwilioWebhookVerifier(
            settings.twilio_auth_token, public_url, settings.twilio_previous_auth_token
        )
        if settings.twilio_configured and settings.twilio_auth_token
        else None
    )
    return Services(
        settings=settings,
        clock=clock,
        events=events,
        db=db,
        store=store,
        sealer=sealer,
        resealer=Resealer(store, sealer),
        audit=audit,
        authenticator=authenticator,
        accounts=accounts,
        administration=AgencyAdministration(store, audit, sealer, accounts),
        audit_reading=AuditReading(store, audit),
        cases=cases,
        case_lifecycle=case_lifecycle,
        devices=devices,
        enrolments=enrolments,
        identities=IdentityService(store, audit, clock, events),
        rosters=RosterService(store, audit, clock, events),
        keys=keys,
        messages=messages,
        resends=resends,
        attachments=attachments,
        hub=hub,
        phones=phones,
        plans=PlanService(store, audit, clock),
        checkins=checkins,
        waves=WaveArming(store, clock, checkins),
        alerts=alerts,
        alert_desk=alert_desk,
        sms_replies=SmsReplies(store, audit, clock, events, phones),
        alert_guidance=AlertGuidance(store, audit, clock, sealer),
        welfare=WelfareSettings(store, audit, clock, phones),
        dispatcher=dispatcher,
        delivery=delivery,
        backlog=BacklogReader(store, clock, dispatcher.pacer, settings.critical_wait_warning_s),
        twilio_webhooks=webhooks,
        webhook_replays=WebhookReplayGuard(store, clock, settings.webhook_replay_window),
        appointments=AppointmentService(
            store,
            audit,
            clock,
            events,
            alerts,
            presence=hub.is_connected if hub is not None else (lambda _device: False),
            wake_dispatcher=dispatcher.wake,
        ),
        calendar_feeds=CalendarFeeds(store, audit, clock),
        device_events=DeviceEvents(store, clock),
        unlock=UnlockService(
            store,
            audit,
            clock,
            sealer,
            alerts,
            events,
            authenticator,
            # A witness mistyping a few times goes through; a script cannot hammer.
            evaluations_by_device=shared_limiter("unlock.device", Rate(capacity=5, refill_s=30)),
            max_unconfirmed=settings.vault_max_unconfirmed,
            wake_dispatcher=dispatcher.wake,
        ),
        pins=PinService(store, audit, clock, sealer),
        alert_calls=AlertCalls(store, call_steps, alert_desk),
        witness_calls=WitnessCalls(
            store,
            call_steps,
            phones,
            checkins,
            # A witness mistyping twice goes through; guessing a PIN takes months.
            shared_limiter("voice.pin", Rate(capacity=5, refill_s=600)),
        ),
        door_answers=DoorAnswers(
            store, audit, clock, events, alerts, wake_dispatcher=dispatcher.wake
        ),
        visits=VisitService(
            store,
            audit,
            clock,
            events,
            alerts,
            sealer,
            grace=settings.visit_grace,
            wake_dispatcher=dispatcher.wake,
        ),
        handovers=HandoverService(
            store,
            audit,
            clock,
            events,
            alerts,
            sealer,
            accept_days=settings.handover_accept_days,
            wake_dispatcher=dispatcher.wake,
        ),
        assessments=AssessmentService(
            store,
            audit,
            clock,
            events,
            alerts,
            sealer,
            grace=settings.review_grace,
            wake_dispatcher=dispatcher.wake,
        ),
    )
