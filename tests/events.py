"""A touch or chmod as the installed watchdog reports it.

watchdog 7 (Python 3.11+) reports it as FileAttribEvent, which the watcher ignores; watchdog 6
(the newest on Python 3.10) as FileModifiedEvent, which leads to a content comparison that
finds nothing new. The tests hold each to what it does.
"""

from __future__ import annotations

from watchdog import events

ATTRIB_EVENTS = hasattr(events, "FileAttribEvent")


def touch_event(path: str) -> events.FileSystemEvent:
    if ATTRIB_EVENTS:
        return events.FileAttribEvent(path)
    return events.FileModifiedEvent(path)
