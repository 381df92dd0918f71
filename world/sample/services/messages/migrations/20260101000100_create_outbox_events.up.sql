-- Events written in the same transaction as the change they describe; a relay delivers them.
CREATE TABLE outbox_events (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);

-- The relay only ever looks for undelivered events that are due.
CREATE INDEX outbox_events_pending_idx ON outbox_events (next_attempt_at) WHERE delivered_at IS NULL;
