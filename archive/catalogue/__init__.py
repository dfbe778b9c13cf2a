"""Testimonies, narrators, timecoded segments, places and subjects."""
