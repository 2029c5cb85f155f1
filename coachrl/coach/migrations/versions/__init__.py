"""The store's Alembic revisions, one file each (`NNNN_what.py`, revision id `NNNN`)."""
