"""The doctor: checks of the database, the Git archive and the queue between them, and their repairs."""
