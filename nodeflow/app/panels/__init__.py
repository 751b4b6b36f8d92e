"""The window's side panels: node library, inspector, results gallery, log, run bar."""
