"""File reservations: leases on paths and globs, the glob matcher, staleness, and the Git guard's installation."""
