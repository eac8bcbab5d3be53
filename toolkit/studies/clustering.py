"""Study 'clustering' (being written)."""
