"""Study 'augmentation' (being written)."""
