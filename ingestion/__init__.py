"""Ingestion: landing zone batches into bronze tables."""
