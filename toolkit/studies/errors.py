"""Study 'errors' (being written)."""
