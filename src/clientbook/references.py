"""Foreign keys of rows written in bulk.

Rows an import or a merge writes by the hundred thousand — identifiers,
addresses, preferences, key dates, consents, source records — reference their
customer and source without a database constraint. PostgreSQL checks every
constraint of every row at commit, locking the referenced row (FOR KEY SHARE)
and queueing a trigger event: about a third of the server's work for each
imported customer (bench/README.md, "Customer import"). The references hold
by construction: the rows are written for customers just read or inserted in
the same transaction, customers are never deleted (archived or merged
instead), and Django still applies each key's `on_delete`.
"""

BULK_WRITTEN = {"db_constraint": False}
