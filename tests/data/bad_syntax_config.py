"""A config file with a syntax error (bad-input tests)."""
def get_config(:
