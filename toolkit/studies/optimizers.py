"""Study 'optimizers' (being written)."""
