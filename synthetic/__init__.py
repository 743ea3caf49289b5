"""Synthetic department data that honours the data contract."""
