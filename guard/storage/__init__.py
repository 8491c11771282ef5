"""The storage ring: the Database (sessions, raw DBAPI transactions, the SQLite writer lock), raw SQL and bulk
rows, group commit, every table (tables/) and the migrations.

May import guard.core only.
"""
