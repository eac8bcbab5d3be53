"""Study 'regularization' (being written)."""
