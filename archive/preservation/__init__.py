"""Preservation packages (BagIt) of testimonies."""
