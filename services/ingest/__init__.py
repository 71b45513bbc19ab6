"""Bulk import of history (`medhtap ingest`): CSV and Parquet exports checked row by row,
loaded in batches whose checkpoint commits in the same transaction, safe to repeat."""
