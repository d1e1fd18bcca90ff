"""A config file with a misspelt field (bad-input tests)."""

from chromnas.train.config import default_config


def get_config():
  c = default_config()
  c.learning_rat = 5.0
  return c
