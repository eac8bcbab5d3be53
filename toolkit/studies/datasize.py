"""Study 'datasize' (being written)."""
