"""A config file without get_config (bad-input tests)."""

VALUE = 1
