"""Study 'embedding' (being written)."""
