"""Clientbook: an open-source customer database for database marketing and CRM."""
