"""Mail: sending, recipients, attachments, inboxes and views, topics, search, contacts and contact policy."""
