"""Exports: the training-ready dataset written from the reviewed pairs."""
