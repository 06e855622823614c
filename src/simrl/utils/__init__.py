"""Small helpers with no domain code: atomic files, seeding, logging."""
