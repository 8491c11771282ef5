"""Customer situation: events received from CRM, helpdesk and shop systems, and what they add up to."""
