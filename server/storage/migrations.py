"""Schema migrations for both backends.

A migration is a list of statements written once with two tokens — ``{PK}`` (an
auto-incrementing integer key that is never reused) and ``{BLOB}`` — plus optional
statements per dialect (triggers differ). The runner applies pending migrations in one
transaction each, re-checking what is applied under a lock so that two processes
starting at once (two app instances, or the admin command beside the server) never
apply a migration twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.clock import Clock, to_ms
from server.storage.database import Connection, Database, DialectName

_TOKENS = {
    DialectName.SQLITE: {"{PK}": "INTEGER PRIMARY KEY AUTOINCREMENT", "{BLOB}": "BLOB"},
    DialectName.POSTGRES: {"{PK}": "BIGSERIAL PRIMARY KEY", "{BLOB}": "BYTEA"},
}


@dataclass(frozen=True)
class Migration:
    """One schema version."""

    version: int
    name: str
    statements: list[str]
    sqlite_only: list[str] = field(default_factory=list)
    postgres_only: list[str] = field(default_factory=list)

    def for_dialect(self, dialect: DialectName) -> list[str]:
        extra = self.postgres_only if dialect is DialectName.POSTGRES else self.sqlite_only
        out = []
        for statement in [*self.statements, *extra]:
            for token, replacement in _TOKENS[dialect].items():
                statement = statement.replace(token, replacement)
            out.append(statement)
        return out


_CORE = Migration(
    version=1,
    name="core: agencies, staff, cases, witnesses, devices, keys, messages, audit",
    statements=[
        """CREATE TABLE agencies (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            country TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('police', 'support')),
            requires_reason BOOLEAN NOT NULL DEFAULT FALSE,
            created_at BIGINT NOT NULL)""",
        """CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            agency_id TEXT NOT NULL REFERENCES agencies(id),
            username TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL
                CHECK (role IN ('officer', 'support_worker', 'supervisor', 'admin')),
            password_hash TEXT NOT NULL,
            totp_secret_sealed {BLOB},
            totp_last_step BIGINT NOT NULL DEFAULT 0,
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_at BIGINT NOT NULL)""",
        "CREATE INDEX staff_by_agency ON staff (agency_id)",
        """CREATE TABLE cases (
            id TEXT PRIMARY KEY,
            reference TEXT NOT NULL,
            police_agency_id TEXT NOT NULL REFERENCES agencies(id),
            support_agency_id TEXT NOT NULL REFERENCES agencies(id),
            created_by TEXT NOT NULL REFERENCES staff(id),
            created_at BIGINT NOT NULL,
            closed_at BIGINT,
            UNIQUE (police_agency_id, reference))""",
        """CREATE TABLE case_staff (
            case_id TEXT NOT NULL REFERENCES cases(id),
            staff_id TEXT NOT NULL REFERENCES staff(id),
            added_by TEXT NOT NULL,
            added_at BIGINT NOT NULL,
            PRIMARY KEY (case_id, staff_id))""",
        "CREATE INDEX case_staff_by_staff ON case_staff (staff_id)",
        """CREATE TABLE witnesses (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL UNIQUE REFERENCES cases(id),
            alias TEXT NOT NULL,
            language TEXT NOT NULL,
            timezone TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL)""",
        """CREATE TABLE enrolment_codes (
            code_hash {BLOB} PRIMARY KEY,
            witness_id TEXT NOT NULL REFERENCES witnesses(id),
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            team_fingerprint TEXT NOT NULL,
            team_devices TEXT NOT NULL,
            used_at BIGINT,
            used_by_device TEXT)""",
        "CREATE INDEX enrolment_codes_by_expiry ON enrolment_codes (expires_at)",
        """CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            owner_kind TEXT NOT NULL CHECK (owner_kind IN ('staff', 'witness')),
            owner_id TEXT NOT NULL,
            name TEXT NOT NULL,
            curve25519 TEXT NOT NULL UNIQUE,
            ed25519 TEXT NOT NULL UNIQUE,
            token_hash {BLOB} NOT NULL UNIQUE,
            created_at BIGINT NOT NULL,
            last_seen_at BIGINT NOT NULL,
            revoked_at BIGINT,
            revoked_by TEXT)""",
        "CREATE INDEX devices_by_owner ON devices (owner_kind, owner_id)",
        """CREATE TABLE one_time_keys (
            id {PK},
            device_id TEXT NOT NULL REFERENCES devices(id),
            key_id TEXT NOT NULL,
            public_key TEXT NOT NULL,
            signature TEXT NOT NULL,
            UNIQUE (device_id, key_id))""",
        """CREATE TABLE fallback_keys (
            device_id TEXT PRIMARY KEY REFERENCES devices(id),
            key_id TEXT NOT NULL,
            public_key TEXT NOT NULL,
            signature TEXT NOT NULL,
            uploaded_at BIGINT NOT NULL)""",
        """CREATE TABLE sent_messages (
            sender_device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            case_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (sender_device_id, message_id))""",
        "CREATE INDEX sent_messages_by_time ON sent_messages (created_at)",
        """CREATE TABLE message_copies (
            id {PK},
            recipient_device_id TEXT NOT NULL,
            case_id TEXT NOT NULL,
            sender_device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            olm_type INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL)""",
        "CREATE INDEX message_copies_by_recipient ON message_copies (recipient_device_id, id)",
        "CREATE INDEX message_copies_by_time ON message_copies (created_at)",
        """CREATE TABLE attachments (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL,
            uploader_device_id TEXT NOT NULL,
            size BIGINT NOT NULL,
            content {BLOB} NOT NULL,
            created_at BIGINT NOT NULL)""",
        "CREATE INDEX attachments_by_time ON attachments (created_at)",
        """CREATE TABLE attachment_recipients (
            attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
            device_id TEXT NOT NULL,
            fetched_at BIGINT,
            PRIMARY KEY (attachment_id, device_id))""",
        """CREATE TABLE audit_log (
            seq BIGINT PRIMARY KEY,
            at BIGINT NOT NULL,
            actor_kind TEXT NOT NULL,
            actor_id TEXT,
            action TEXT NOT NULL,
            subject_kind TEXT,
            subject_id TEXT,
            case_id TEXT,
            reason TEXT,
            details TEXT NOT NULL,
            prev_hash {BLOB} NOT NULL,
            entry_hash {BLOB} NOT NULL)""",
        "CREATE INDEX audit_by_case ON audit_log (case_id, seq)",
        "CREATE INDEX audit_by_actor ON audit_log (actor_id, seq)",
    ],
    sqlite_only=[
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
           BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END""",
    ],
    postgres_only=[
        """CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $fn$
           BEGIN RAISE EXCEPTION 'audit log is append-only'; END; $fn$ LANGUAGE plpgsql""",
        """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
           FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
        # Row triggers never fire for TRUNCATE; without this one statement empties it.
        """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
           FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
    ],
)


_WELFARE = Migration(
    version=2,
    name="welfare: check-in plans and occurrences, contact, alerts, escalation, notifications",
    statements=[
        "ALTER TABLE witnesses ADD COLUMN phone_sealed {BLOB}",
        "ALTER TABLE witnesses ADD COLUMN phone_index {BLOB}",
        "ALTER TABLE witnesses ADD COLUMN sms_checkin_word {BLOB}",
        "ALTER TABLE witnesses ADD COLUMN sms_duress_word {BLOB}",
        "CREATE UNIQUE INDEX witnesses_by_phone ON witnesses (phone_index)",
        "ALTER TABLE staff ADD COLUMN phone_sealed {BLOB}",
        "ALTER TABLE staff ADD COLUMN on_duty BOOLEAN NOT NULL DEFAULT TRUE",
        "ALTER TABLE devices ADD COLUMN beacon_hash {BLOB}",
        """CREATE TABLE case_settings (
            case_id TEXT PRIMARY KEY REFERENCES cases(id),
            nudge_text TEXT,
            offline_after_s BIGINT NOT NULL,
            silent_after_s BIGINT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        """CREATE TABLE checkin_plans (
            witness_id TEXT PRIMARY KEY REFERENCES witnesses(id),
            case_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('interval', 'calendar')),
            every_hours INTEGER,
            anchor_local TEXT,
            weekdays TEXT,
            times TEXT,
            timezone TEXT NOT NULL,
            window_minutes INTEGER NOT NULL,
            grace_minutes INTEGER NOT NULL,
            reminder_minutes INTEGER NOT NULL,
            paused_reason TEXT,
            paused_until BIGINT,
            version INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        "CREATE INDEX checkin_plans_resume ON checkin_plans (paused_until)",
        """CREATE TABLE checkins (
            id TEXT PRIMARY KEY,
            witness_id TEXT NOT NULL REFERENCES witnesses(id),
            case_id TEXT NOT NULL,
            plan_version INTEGER NOT NULL,
            due_at BIGINT NOT NULL,
            closes_at BIGINT NOT NULL,
            deadline_at BIGINT NOT NULL,
            remind_at BIGINT,
            state TEXT NOT NULL
                CHECK (state IN ('scheduled', 'open', 'answered', 'missed', 'cancelled')),
            step TEXT,
            next_action_at BIGINT,
            nonce TEXT NOT NULL,
            prompted_at BIGINT,
            reminded_at BIGINT,
            nudged_at BIGINT,
            answered_at BIGINT,
            response TEXT,
            response_channel TEXT,
            version INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX checkins_due ON checkins (next_action_at)",
        "CREATE INDEX checkins_by_witness ON checkins (witness_id, due_at)",
        """CREATE TABLE witness_contact (
            witness_id TEXT PRIMARY KEY REFERENCES witnesses(id),
            case_id TEXT NOT NULL,
            last_heartbeat_at BIGINT,
            last_contact_at BIGINT,
            silent_deadline_at BIGINT,
            battery INTEGER)""",
        "CREATE INDEX witness_contact_deadline ON witness_contact (silent_deadline_at)",
        """CREATE TABLE escalation_policies (
            scope TEXT PRIMARY KEY,
            spec TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL CHECK (severity IN ('critical', 'high', 'normal')),
            source TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
            policy TEXT NOT NULL,
            level INTEGER NOT NULL,
            round INTEGER NOT NULL,
            round_started_at BIGINT NOT NULL,
            next_escalation_at BIGINT,
            created_at BIGINT NOT NULL,
            acknowledged_by TEXT,
            acknowledged_at BIGINT,
            ack_expires_at BIGINT,
            resolved_by TEXT,
            resolved_at BIGINT,
            outcome TEXT,
            note_sealed {BLOB},
            version INTEGER NOT NULL DEFAULT 0,
            UNIQUE (kind, source))""",
        "CREATE INDEX alerts_escalation ON alerts (status, next_escalation_at)",
        "CREATE INDEX alerts_ack_expiry ON alerts (status, ack_expires_at)",
        "CREATE INDEX alerts_by_case ON alerts (case_id, created_at)",
        """CREATE TABLE notifications (
            id TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            alert_id TEXT,
            checkin_id TEXT,
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'app')),
            recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('staff', 'witness')),
            recipient_id TEXT NOT NULL,
            level INTEGER,
            round INTEGER,
            severity TEXT,
            language TEXT NOT NULL,
            body TEXT,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT,
            lease_until BIGINT,
            lease_owner TEXT,
            claimed_at BIGINT,
            group_ref TEXT,
            provider_id TEXT,
            error_code TEXT,
            created_at BIGINT NOT NULL,
            sent_at BIGINT,
            delivered_at BIGINT)""",
        "CREATE INDEX notifications_due ON notifications (next_attempt_at)",
        "CREATE INDEX notifications_lease ON notifications (lease_until)",
        "CREATE INDEX notifications_by_alert ON notifications (alert_id)",
        "CREATE INDEX notifications_by_provider ON notifications (provider_id)",
    ],
)


_COURT_DATES = Migration(
    version=3,
    name="court dates: hearings, video-link appointments, reminders and deadlines, calendar feeds",
    statements=[
        "ALTER TABLE case_settings ADD COLUMN reminder_offsets TEXT",
        """CREATE TABLE appointments (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL REFERENCES witnesses(id),
            kind TEXT NOT NULL CHECK (kind IN ('hearing', 'video_link')),
            starts_at BIGINT NOT NULL,
            ends_at BIGINT NOT NULL,
            timezone TEXT NOT NULL,
            location_kind TEXT
                CHECK (location_kind IN ('home', 'support_office', 'court', 'embassy')),
            interpreter_booked BOOLEAN NOT NULL DEFAULT FALSE,
            interpreter_language TEXT,
            test_call_at BIGINT,
            test_call_ends_at BIGINT,
            confirm_by BIGINT,
            status TEXT NOT NULL
                CHECK (status IN ('scheduled', 'cancelled', 'attended', 'missed')),
            confirmation TEXT NOT NULL
                CHECK (confirmation IN ('pending', 'confirmed', 'rearrange_requested')),
            confirmed_at BIGINT,
            test_ready_at BIGINT,
            ready_at BIGINT,
            version INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        "CREATE INDEX appointments_by_case ON appointments (case_id, starts_at)",
        "CREATE INDEX appointments_by_witness ON appointments (witness_id, starts_at)",
        """CREATE TABLE appointment_deadlines (
            id TEXT PRIMARY KEY,
            appointment_id TEXT NOT NULL REFERENCES appointments(id),
            case_id TEXT NOT NULL,
            witness_id TEXT NOT NULL,
            kind TEXT NOT NULL
                CHECK (kind IN ('reminder', 'test_call_reminder', 'confirm_by', 'test_ready',
                                'ready')),
            offset_minutes INTEGER,
            due_at BIGINT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'done', 'superseded')),
            appointment_version INTEGER NOT NULL,
            done_at BIGINT)""",
        """CREATE INDEX appointment_deadlines_due ON appointment_deadlines (due_at)
           WHERE state = 'scheduled'""",
        """CREATE INDEX appointment_deadlines_by_appointment
           ON appointment_deadlines (appointment_id)""",
        """CREATE TABLE calendar_feeds (
            staff_id TEXT PRIMARY KEY REFERENCES staff(id),
            token_hash {BLOB} NOT NULL UNIQUE,
            created_at BIGINT NOT NULL)""",
    ],
)


_CONSOLE = Migration(
    version=4,
    name="staff console sessions",
    statements=[
        """CREATE TABLE console_sessions (
            id_hash {BLOB} PRIMARY KEY,
            staff_id TEXT NOT NULL REFERENCES staff(id),
            csrf TEXT NOT NULL,
            language TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_seen_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL)""",
        "CREATE INDEX console_sessions_by_staff ON console_sessions (staff_id)",
        "CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at)",
    ],
)


_DEVICE_EVENTS = Migration(
    version=5,
    name="durable content-free events for devices (reminders, prompts, changes)",
    statements=[
        """CREATE TABLE device_events (
            id {PK},
            device_id TEXT NOT NULL,
            ref TEXT,
            payload TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL)""",
        "CREATE INDEX device_events_by_device ON device_events (device_id, id)",
        "CREATE INDEX device_events_by_expiry ON device_events (expires_at)",
        "CREATE INDEX device_events_by_ref ON device_events (ref)",
    ],
)

_DELIVERY_REPORTS = Migration(
    version=6,
    name="reconciliation cut-off per notification; delivery reports that came early",
    statements=[
        # Set when an attempt's outcome became unknown (uncertain, or its lease ran
        # out): only such rows are reconciled, and only against messages since then.
        "ALTER TABLE notifications ADD COLUMN reconcile_since BIGINT",
        # A status callback for a message id no row carries yet (the dispatcher has
        # not recorded its send); applied when the id is recorded.
        """CREATE TABLE delivery_reports (
            provider_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            error_code TEXT,
            received_at BIGINT NOT NULL)""",
        "CREATE INDEX delivery_reports_by_age ON delivery_reports (received_at)",
    ],
)

_TRUST = Migration(
    version=7,
    name="trust: signed device objects, identities and device lists, rosters, enrolment v2",
    statements=[
        # The signed device object, exactly as the device uploaded it.
        "ALTER TABLE devices ADD COLUMN key_object TEXT",
        # A person's identity key and the latest device list it signed, as uploaded.
        """CREATE TABLE identities (
            owner TEXT PRIMARY KEY,
            identity_key TEXT NOT NULL,
            version BIGINT NOT NULL,
            device_list TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        # A staff member's identity key sealed under their recovery key (on the client).
        """CREATE TABLE identity_backups (
            owner TEXT PRIMARY KEY,
            identity_key TEXT NOT NULL,
            sealed TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        # The latest roster of each case, as signed by a team member.
        """CREATE TABLE rosters (
            case_id TEXT PRIMARY KEY REFERENCES cases(id),
            version BIGINT NOT NULL,
            signer_key TEXT NOT NULL,
            body TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        # Codes made by the server are worthless now: the officer's client makes them.
        "DROP TABLE enrolment_codes",
        """CREATE TABLE enrolments (
            id TEXT PRIMARY KEY,
            code_hash {BLOB} NOT NULL UNIQUE,
            witness_id TEXT NOT NULL REFERENCES witnesses(id),
            created_by TEXT NOT NULL,
            created_by_device TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            roster TEXT NOT NULL,
            team_mac TEXT NOT NULL,
            commitment TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN
                ('issued', 'claimed', 'revealed', 'completed', 'aborted', 'withdrawn')),
            device_id TEXT,
            phone_identity TEXT,
            phone_mac TEXT,
            phone_nonce TEXT,
            reveal TEXT,
            updated_at BIGINT NOT NULL)""",
        "CREATE INDEX enrolments_by_witness ON enrolments (witness_id)",
        "CREATE INDEX enrolments_by_expiry ON enrolments (expires_at)",
        "CREATE INDEX enrolments_by_device ON enrolments (device_id)",
    ],
)

_VAULT_UNLOCK = Migration(
    version=8,
    name="vault unlock: per-device OPRF seed, guess counts, duress state, confirmation keys",
    statements=[
        # One row per witness device that set up its PIN. seed_sealed is NULL once the
        # OPRF key is erased (for ever: the phone's store can no longer be opened).
        """CREATE TABLE device_unlock (
            device_id TEXT PRIMARY KEY REFERENCES devices(id),
            token_hash {BLOB} NOT NULL UNIQUE,
            seed_sealed {BLOB},
            oprf_public_key TEXT NOT NULL,
            unconfirmed INTEGER NOT NULL DEFAULT 0,
            duress_unconfirmed INTEGER NOT NULL DEFAULT 0,
            wipe_on_duress BOOLEAN NOT NULL DEFAULT FALSE,
            duress_since BIGINT,
            attempt_id TEXT,
            attempt_challenge TEXT,
            attempt_kind TEXT,
            attempt_expires_at BIGINT,
            erased_at BIGINT,
            erased_reason TEXT,
            created_at BIGINT NOT NULL)""",
        """CREATE TABLE unlock_keys (
            device_id TEXT NOT NULL REFERENCES devices(id),
            public_key TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('primary', 'duress')),
            created_at BIGINT NOT NULL,
            PRIMARY KEY (device_id, public_key))""",
        # The wipe beacon is gone: the server counts PIN guesses itself.
        "ALTER TABLE devices DROP COLUMN beacon_hash",
    ],
)

_DELIVERY_REPAIR = Migration(
    version=9,
    name="delivery repair: copies sent again to one device; one-time key allowances",
    statements=[
        # A copy of an already stored message, sent again by its sender to one device of
        # the case that could not open it (session repair). One row per distinct
        # ciphertext: a retried request finds its row and adds nothing.
        """CREATE TABLE resent_copies (
            sender_device_id TEXT NOT NULL,
            message_id TEXT NOT NULL,
            recipient_device_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (sender_device_id, message_id, recipient_device_id, digest))""",
        "CREATE INDEX resent_copies_by_time ON resent_copies (created_at)",
        # One row per (claimer, target) pair: how many one-time keys the claimer took
        # from the target since the window started. Beyond the allowance the claimer
        # gets the target's fallback key, so no one member can drain a device.
        """CREATE TABLE one_time_key_claims (
            claimer_device_id TEXT NOT NULL,
            target_device_id TEXT NOT NULL,
            window_started_at BIGINT NOT NULL,
            claimed INTEGER NOT NULL,
            PRIMARY KEY (claimer_device_id, target_device_id))""",
        "CREATE INDEX one_time_key_claims_by_window ON one_time_key_claims (window_started_at)",
    ],
)

_SHARED_RATE_LIMITS = Migration(
    version=10,
    name="rate-limit buckets shared by every instance",
    statements=[
        # One token bucket per limiter (scope) and key; the key is a keyed hash, never
        # an address or a username. idle_at: when the bucket is full again and may be
        # swept (forgetting a full bucket changes nothing).
        """CREATE TABLE rate_buckets (
            scope TEXT NOT NULL,
            bucket_key TEXT NOT NULL,
            tokens DOUBLE PRECISION NOT NULL,
            stamp_ms BIGINT NOT NULL,
            refusing BOOLEAN NOT NULL,
            idle_at BIGINT NOT NULL,
            PRIMARY KEY (scope, bucket_key))""",
        "CREATE INDEX rate_buckets_by_idle ON rate_buckets (idle_at)",
    ],
)

_SERVER_SECRETS = Migration(
    version=11,
    name="server secrets: key material that must outlive a rotation of the sealing key",
    statements=[
        # Named secrets, each sealed under the current server key and re-sealed with
        # every other sealed column. Holds the blind-index root: the phone index and the
        # SMS code-word digests are keyed by it, and digests of code words cannot be
        # recomputed, so it must stay the same while the sealing key changes.
        """CREATE TABLE server_secrets (
            name TEXT PRIMARY KEY,
            value_sealed {BLOB} NOT NULL,
            created_at BIGINT NOT NULL)""",
    ],
)

_NOTIFICATION_COLUMNS_V12 = (
    "id, purpose, alert_id, checkin_id, channel, recipient_kind, recipient_id, level,"
    " round, severity, language, body, status, attempts, next_attempt_at, lease_until,"
    " lease_owner, claimed_at, group_ref, provider_id, error_code, created_at, sent_at,"
    " delivered_at, reconcile_since"
)

_VOICE_CALL_STEPS = Migration(
    version=12,
    name="voice: calls in the outbox; webhooks answered once per call and step",
    statements=[
        # Twilio may repeat a voice webhook (retries, a replay): each (CallSid, step)
        # acts once; a repeat gets the TwiML stored with the first answer.
        # context: what a later step of the same call needs (who the caller is, and
        # whether the real or the duress PIN was entered; never the PIN).
        """CREATE TABLE voice_call_steps (
            call_sid TEXT NOT NULL,
            step TEXT NOT NULL,
            response TEXT,
            context TEXT,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (call_sid, step))""",
        "CREATE INDEX voice_call_steps_by_age ON voice_call_steps (created_at)",
        # A witness's voice check-in settings, set by staff: the voice PIN and duress
        # voice PIN as keyed digests only (like the SMS code words; both or neither),
        # and whether check-ins also call the witness (never, fallback when the phone
        # is offline, always).
        """CREATE TABLE witness_voice (
            witness_id TEXT PRIMARY KEY,
            pin_digest {BLOB},
            duress_digest {BLOB},
            checkin_call TEXT NOT NULL DEFAULT 'never'
                CHECK (checkin_call IN ('never', 'fallback', 'always')),
            updated_at BIGINT NOT NULL)""",
    ],
    # Notifications may be calls: the channel check gains 'voice'. PostgreSQL changes
    # the constraint; SQLite cannot, so the table is rebuilt (nothing references it).
    postgres_only=[
        "ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check",
        "ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check"
        " CHECK (channel IN ('sms', 'app', 'voice'))",
    ],
    sqlite_only=[
        """CREATE TABLE notifications_v12 (
            id TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            alert_id TEXT,
            checkin_id TEXT,
            channel TEXT NOT NULL CHECK (channel IN ('sms', 'app', 'voice')),
            recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('staff', 'witness')),
            recipient_id TEXT NOT NULL,
            level INTEGER,
            round INTEGER,
            severity TEXT,
            language TEXT NOT NULL,
            body TEXT,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT,
            lease_until BIGINT,
            lease_owner TEXT,
            claimed_at BIGINT,
            group_ref TEXT,
            provider_id TEXT,
            error_code TEXT,
            created_at BIGINT NOT NULL,
            sent_at BIGINT,
            delivered_at BIGINT,
            reconcile_since BIGINT)""",
        f"INSERT INTO notifications_v12 ({_NOTIFICATION_COLUMNS_V12})"
        f" SELECT {_NOTIFICATION_COLUMNS_V12} FROM notifications",
        "DROP TABLE notifications",
        "ALTER TABLE notifications_v12 RENAME TO notifications",
        "CREATE INDEX notifications_due ON notifications (next_attempt_at)",
        "CREATE INDEX notifications_lease ON notifications (lease_until)",
        "CREATE INDEX notifications_by_alert ON notifications (alert_id)",
        "CREATE INDEX notifications_by_provider ON notifications (provider_id)",
    ],
)

_ALERT_RESPONSE = Migration(
    version=13,
    name="alert response: agency playbooks, sealed per-witness instructions, SMS replies",
    statements=[
        # The steps an agency takes for one kind of alert; plain (they describe the
        # agency's procedure, not a person).
        """CREATE TABLE alert_playbooks (
            agency_id TEXT NOT NULL REFERENCES agencies(id),
            kind TEXT NOT NULL,
            steps TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (agency_id, kind))""",
        # How to respond to this witness ("never call, text only"): personal data, so
        # sealed under the server key like the alert note.
        """CREATE TABLE witness_response_instructions (
            witness_id TEXT PRIMARY KEY REFERENCES witnesses(id),
            instructions_sealed {BLOB} NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        # Inbound staff SMS replies already handled, by Twilio's MessageSid, so a
        # replayed webhook never acts twice.
        """CREATE TABLE sms_replies_handled (
            provider_id TEXT PRIMARY KEY,
            handled_at BIGINT NOT NULL)""",
        "CREATE INDEX notifications_by_group_ref ON notifications (group_ref)",
    ],
)


_FINDINGS = Migration(
    version=14,
    name="review findings: inbound webhooks remembered by their id; alert outcome sealed",
    statements=[
        # One row per inbound webhook acted on (an SMS by its MessageSid, a status
        # callback by MessageSid + status, a call step by CallSid + step), so a signed
        # request replayed later is recognised and ignored. Kept until expires_at.
        """CREATE TABLE webhook_receipts (
            kind TEXT NOT NULL,
            receipt_key TEXT NOT NULL,
            seen_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (kind, receipt_key))""",
        "CREATE INDEX webhook_receipts_by_expiry ON webhook_receipts (expires_at)",
        # The alert outcome ("home visit: witness safe") is personal data like the
        # note: sealed from now on. Rows resolved before keep theirs in ``outcome``
        # until the server seals them at start (AlertDesk.seal_plaintext_outcomes).
        "ALTER TABLE alerts ADD COLUMN outcome_sealed {BLOB}",
    ],
)

# --- on-call screen (issue 13, part "oncall") ---
_ONCALL_SCREEN = Migration(
    version=15,
    name="console sessions in on-call screen mode",
    statements=[
        # 'desk' (the 15-minute idle sign-out) or 'shift' (an on-call screen: signed in
        # for a whole shift, read-only, a fresh password for every action).
        "ALTER TABLE console_sessions ADD COLUMN mode TEXT NOT NULL DEFAULT 'desk'",
    ],
)

# --- welfare visits and the door code (issue 11, part "visits") ---
_VISITS = Migration(
    version=20,
    name="welfare visits: plan per witness, scheduled visits, their records and door answers",
    statements=[
        """CREATE TABLE visit_plans (
            witness_id TEXT PRIMARY KEY REFERENCES witnesses(id),
            case_id TEXT NOT NULL REFERENCES cases(id),
            every_days INTEGER NOT NULL,
            risk_level TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at BIGINT NOT NULL)""",
        "CREATE INDEX visit_plans_by_case ON visit_plans (case_id)",
        # due_at: end of the window + grace while unrecorded; cleared by the overdue
        # sweep's compare-and-swap (once) or by the record. concerns_sealed is sealed
        # with the server key (SEALED_COLUMNS).
        """CREATE TABLE visits (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL REFERENCES witnesses(id),
            visitor_staff_id TEXT NOT NULL REFERENCES staff(id),
            window_start BIGINT NOT NULL,
            window_end BIGINT NOT NULL,
            due_at BIGINT,
            status TEXT NOT NULL CHECK (status IN ('scheduled', 'recorded', 'cancelled')),
            version INTEGER NOT NULL,
            outcome TEXT CHECK (outcome IN ('held', 'not_met', 'declined')),
            seen_alone BOOLEAN,
            concerns_sealed {BLOB},
            recorded_by TEXT,
            recorded_at BIGINT,
            door_answer TEXT,
            door_answered_at BIGINT,
            created_by TEXT NOT NULL,
            created_at BIGINT NOT NULL)""",
        "CREATE INDEX visits_by_case ON visits (case_id, window_start)",
        "CREATE INDEX visits_due ON visits (due_at)",
    ],
)


# --- handover before return; risk and needs assessment (issue 11, part "handover") ---
_HANDOVER = Migration(
    version=19,
    name="handover to the receiving support agency; risk assessments and their reviews",
    statements=[
        # One row per handover request; a new request for the same case withdraws the
        # open one. The row is also the deadline: accept_by with alert_state
        # 'scheduled' is claimed by the sweep with a compare-and-swap ('raised'), and
        # turned 'off' by a decision. The decline reason is free text: sealed.
        """CREATE TABLE handovers (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL,
            receiving_agency_id TEXT NOT NULL REFERENCES agencies(id),
            return_on BIGINT NOT NULL,
            accept_by BIGINT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('requested', 'accepted', 'declined', 'withdrawn')),
            alert_state TEXT NOT NULL DEFAULT 'scheduled'
                CHECK (alert_state IN ('scheduled', 'raised', 'off')),
            requested_by TEXT NOT NULL,
            requested_at BIGINT NOT NULL,
            decided_by TEXT,
            decided_at BIGINT,
            primary_contact_id TEXT,
            alternate_contact_id TEXT,
            decline_reason_sealed {BLOB},
            version INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX handovers_by_case ON handovers (case_id, requested_at)",
        "CREATE INDEX handovers_by_agency ON handovers (receiving_agency_id, status)",
        "CREATE INDEX handovers_due ON handovers (alert_state, accept_by)",
        # The witness's consent to the handover: who recorded it, when and how.
        """CREATE TABLE handover_consents (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL,
            how TEXT NOT NULL CHECK (how IN ('in_person', 'phone_call', 'in_app')),
            recorded_by TEXT NOT NULL,
            given_at BIGINT NOT NULL,
            recorded_at BIGINT NOT NULL)""",
        "CREATE INDEX handover_consents_by_case ON handover_consents (case_id, recorded_at)",
        # Every assessment is a new row; none is ever updated (history kept).
        """CREATE TABLE risk_assessments (
            id TEXT PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL,
            level TEXT NOT NULL CHECK (level IN ('low', 'medium', 'high', 'severe')),
            factors TEXT NOT NULL,
            notes_sealed {BLOB},
            assessed_by TEXT NOT NULL,
            assessed_at BIGINT NOT NULL,
            review_due_at BIGINT NOT NULL)""",
        "CREATE INDEX risk_assessments_by_witness ON risk_assessments (witness_id, assessed_at)",
        "CREATE INDEX risk_assessments_by_case ON risk_assessments (case_id)",
        # The review's deadlines: a reminder when it falls due, an alert after the grace.
        # A new assessment supersedes the scheduled rows of the one before.
        """CREATE TABLE review_deadlines (
            id TEXT PRIMARY KEY,
            assessment_id TEXT NOT NULL REFERENCES risk_assessments(id),
            case_id TEXT NOT NULL REFERENCES cases(id),
            witness_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('reminder', 'overdue')),
            due_at BIGINT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'done', 'superseded')),
            done_at BIGINT)""",
        "CREATE INDEX review_deadlines_due ON review_deadlines (state, due_at)",
        "CREATE INDEX review_deadlines_by_witness ON review_deadlines (witness_id, state)",
    ],
)


# --- closing, retention and review of cases (issue 11, part "casework") ---
_CASE_LIFECYCLE = Migration(
    version=18,
    name="cases: outcome on closing, phones retired after the outcome, retention, reviews",
    statements=[
        # The outcome category only (server/domain/case_lifecycle.py OUTCOMES): what the
        # witness is told is rendered and end-to-end encrypted by a staff client.
        "ALTER TABLE cases ADD COLUMN outcome TEXT",
        "ALTER TABLE cases ADD COLUMN closed_by TEXT",
        # Set on closing; the witness's phones are revoked (and erase themselves) once
        # the outcome message reached them or at this time, whichever comes first.
        "ALTER TABLE cases ADD COLUMN retire_phones_at BIGINT",
        # Set on closing to closed_at + retention; cleared when the erasure finished.
        "ALTER TABLE cases ADD COLUMN erase_at BIGINT",
        "ALTER TABLE cases ADD COLUMN erased_at BIGINT",
        # Open cases' periodic review (Law Enforcement Directive art. 5).
        "ALTER TABLE cases ADD COLUMN review_due_at BIGINT",
        "ALTER TABLE cases ADD COLUMN review_reminded_at BIGINT",
        "CREATE INDEX cases_retire_phones ON cases (retire_phones_at)",
        "CREATE INDEX cases_erase ON cases (erase_at)",
        "CREATE INDEX cases_review ON cases (review_due_at)",
        # Existing open cases: first review six months after they were opened.
        "UPDATE cases SET review_due_at = created_at + 15724800000 WHERE closed_at IS NULL",
        # Cases closed before: erased two years (the default retention) after closing.
        "UPDATE cases SET erase_at = closed_at + 63072000000 WHERE closed_at IS NOT NULL",
    ],
)


# --- pacing (issue 14, part "pacing") ---
_PACING = Migration(
    version=16,
    name="outbox urgency: the order notifications are sent in when senders are paced",
    statements=[
        # 0/1 critical alerts (first round / repeat), 2/3 other alerts, 4 reminders and
        # nudges (server.domain.welfare.urgency). Rows already queued get theirs from
        # what they carry (their alert's kind is not needed: critical severity says it).
        "ALTER TABLE notifications ADD COLUMN urgency INTEGER NOT NULL DEFAULT 4",
        "UPDATE notifications SET urgency = CASE"
        " WHEN purpose = 'alert' AND severity = 'critical' THEN 0"
        " WHEN purpose = 'alert' THEN 2 ELSE 4 END"
        " + CASE WHEN purpose = 'alert' AND round > 1 THEN 1 ELSE 0 END",
        "CREATE INDEX notifications_by_urgency ON notifications"
        " (status, channel, urgency, created_at)",
    ],
)

MIGRATIONS: list[Migration] = [
    _CORE,
    _WELFARE,
    _COURT_DATES,
    _CONSOLE,
    _DEVICE_EVENTS,
    _DELIVERY_REPORTS,
    _TRUST,
    _VAULT_UNLOCK,
    _DELIVERY_REPAIR,
    _SHARED_RATE_LIMITS,
    _SERVER_SECRETS,
    _VOICE_CALL_STEPS,
    _ALERT_RESPONSE,
    _FINDINGS,
    _ONCALL_SCREEN,
    _PACING,
    _CASE_LIFECYCLE,
    _HANDOVER,
    _VISITS,
]


async def _applied(conn: Connection) -> set[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations")
    return {int(row[0]) for row in rows}


async def migrate(db: Database, clock: Clock, migrations: list[Migration] | None = None) -> int:
    """Apply every pending migration; return how many were applied."""
    todo = sorted(migrations or MIGRATIONS, key=lambda m: m.version)
    applied_now = 0
    async with db.transaction() as conn:
        if db.dialect.is_postgres:
            await conn.execute("SELECT pg_advisory_xact_lock(727001)")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
    for migration in todo:
        async with db.transaction() as conn:
            if db.dialect.is_postgres:
                await conn.execute("SELECT pg_advisory_xact_lock(727001)")
            if migration.version in await _applied(conn):
                continue
            for statement in migration.for_dialect(db.dialect.name):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                to_ms(clock.now()),
            )
            applied_now += 1
    return applied_now
