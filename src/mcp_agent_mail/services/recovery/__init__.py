"""Disaster recovery: restore points (save, verify, restore, journal), rebuilding the database from the
archive, and the registry of running servers."""
