"""The console at ``/console``: pages where people see and manage what
they stored, signed in with an API token (``face``: the routes, the pages
that show, and who may do what; ``changes``: the forms that change what is
stored; ``admin``: tokens and the store, for an admin; ``sessions``:
sign-ins kept in the records; ``views``: the HTML)."""
