"""Web Push to staff phones (RFC 8030 / 8291 / 8292, docs/push.md): the VAPID key,
stored subscriptions, the payloads of a ring and a reminder, and the sender."""
