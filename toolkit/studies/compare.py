"""Study 'compare' (being written)."""
