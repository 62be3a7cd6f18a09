"""CRM API: managers review submitted orders, price them from the model analysis, approve or
reject them; customers' complaints; an optional auto-approval policy for demos and load."""
