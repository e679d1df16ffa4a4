"""The fake Discord's own tests: it accepts what Discord accepts and reports what it refuses."""
