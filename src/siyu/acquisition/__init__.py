"""Acquisition: channel codes (渠道活码) and the attribution of the contacts they bring."""
