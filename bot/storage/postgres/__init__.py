"""The PostgreSQL engine: one database shared by several bot and web processes."""
