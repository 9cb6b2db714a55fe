"""Salesforce: client (HTTP, auth, paging), settings, and the sync of each sObject."""
