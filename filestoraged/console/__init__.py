"""The console at ``/console``: pages where people see and manage what
they stored, signed in with an API token (``face``: the routes and who may
do what; ``sessions``: sign-ins kept in the records; ``views``: the HTML)."""
