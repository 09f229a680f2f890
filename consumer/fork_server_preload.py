"""Imported by the supervisor's fork server only (``set_forkserver_preload``): loads what every child shares."""

from consumer.preload import load_everything

load_everything()
