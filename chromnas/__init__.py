"""chromnas: Chromatic Networks — weight-sharing RL policies searched by ENAS and trained by ES."""

__version__ = "0.1.0"
