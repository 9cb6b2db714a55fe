"""The sync stage: what changed in each CRM since its watermark, page by page, into the
raw_<crm>.* snapshot tables. limiter.py is the request budget each CRM shares across
threads and steps; snapshot.py stages pages, quarantines bad records and merges the rest
in one transaction per object; hubspot/ and salesforce/ hold each CRM's client, settings
and sync."""
