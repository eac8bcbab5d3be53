"""Study 'features' (being written)."""
