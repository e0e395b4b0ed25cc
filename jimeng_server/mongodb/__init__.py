"""django-mongodb-backend, with duplicate keys recognised by MongoDB's error code: see base.py."""
