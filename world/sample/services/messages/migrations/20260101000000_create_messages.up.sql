CREATE TABLE messages (
    id uuid PRIMARY KEY,
    sender_id text NOT NULL,
    recipient_id text NOT NULL,
    body text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now()
);

-- ListMessages reads one recipient's inbox, newest first.
CREATE INDEX messages_recipient_sent_at_idx ON messages (recipient_id, sent_at DESC);
