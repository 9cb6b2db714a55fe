"""HubSpot: client (HTTP, auth, paging), settings, and the sync of each object."""
