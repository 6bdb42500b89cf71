"""Read-only browsing of the Git archive for people: commits and diffs, the tree at HEAD, and inboxes in the past."""
