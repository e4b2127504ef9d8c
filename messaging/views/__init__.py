"""Thin views by resource; each gives a full page to a plain request and a fragment to an htmx one
(views.responses decides which, and answers every form the same way)."""
