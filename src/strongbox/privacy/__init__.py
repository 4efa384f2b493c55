"""Data subject requests (GDPR Art. 15, 17, 20): find, export and erase a subject's data."""
